"""The public Python API of geopose: everything a notebook or a script needs.

Stable across releases; every other module of the package is internal. Each name is
also an attribute of the package itself (``geopose.load_model``), loaded on first use.

Units everywhere: AGL in metres (NaN = no data), GSD in metres per pixel, the flow
angle in radians (0 points down the image, π/2 right) and its scale in pixels per
metre of height.

Example:
    >>> import geopose
    >>> model = geopose.load_model("model.safetensors")  # doctest: +SKIP
    >>> result = model.predict("scene.tif")  # doctest: +SKIP
    >>> result.to_geotiff("scene_AGL.tif")  # doctest: +SKIP
"""

from geopose.api.data import read_tile, synth
from geopose.api.evaluation import score
from geopose.api.ground import rectify
from geopose.api.model import Model, create_model, list_models, load_model
from geopose.api.result import PoseResult
from geopose.api.training import train

__all__ = [
    "Model",
    "PoseResult",
    "create_model",
    "list_models",
    "load_model",
    "read_tile",
    "rectify",
    "score",
    "synth",
    "train",
]
