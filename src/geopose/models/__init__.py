"""Models: timm encoder → UNet decoder → heads, built from configs; presets by name.

``create_model(name_or_config, pretrained=False)`` returns a module with
``model(image, gsd) -> {"agl", "mag", "scale", "direction", "angle"}`` (DESIGN.md §4).
"""

from geopose.models.config import (
    DecoderConfig,
    DenseHeadConfig,
    DenseOrientationHeadConfig,
    EncoderConfig,
    FPNDecoderConfig,
    LeanOrientationHeadConfig,
    ModelConfig,
    OrientationHeadConfig,
    ScaleHeadConfig,
)
from geopose.models.factory import create_model, resolve_config
from geopose.models.model import OUTPUT_KEYS, GeoposeModel
from geopose.models.registry import get_preset, list_presets, register_preset
from geopose.models.scale import least_squares_scale, scale_from_sums, scale_sums
from geopose.models.summary import count_gflops, count_parameters

__all__ = [
    "OUTPUT_KEYS",
    "DecoderConfig",
    "DenseHeadConfig",
    "DenseOrientationHeadConfig",
    "EncoderConfig",
    "FPNDecoderConfig",
    "GeoposeModel",
    "LeanOrientationHeadConfig",
    "ModelConfig",
    "OrientationHeadConfig",
    "ScaleHeadConfig",
    "count_gflops",
    "count_parameters",
    "create_model",
    "get_preset",
    "least_squares_scale",
    "list_presets",
    "register_preset",
    "resolve_config",
    "scale_from_sums",
    "scale_sums",
]
