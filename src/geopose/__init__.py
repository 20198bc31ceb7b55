"""geopose: monocular geocentric pose (AGL, vertical-flow angle and scale) from overhead RGB."""

from geopose._torchvision_guard import ensure_torchvision

ensure_torchvision()

__version__ = "0.1.0"
__all__ = ["__version__"]
