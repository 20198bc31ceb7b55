"""Models: input convention → timm encoder → decoder → heads, built from a ModelSpec.

``create_model(name_or_spec, pretrained=False)`` returns a module with
``model(image, gsd) -> {"agl", "mag", "scale", "direction", "angle"}`` (DESIGN.md §4).
Presets are named specs (``list_presets``, ``get_preset``). ``save_model`` writes a
checkpoint that carries the model's resolved spec; ``load_model`` rebuilds it from that
spec alone (docs/checkpoints.md).
"""

from geopose.checkpoint import Provenance
from geopose.models.config import (
    MODEL_SPEC_VERSION,
    DecoderConfig,
    DenseHeadConfig,
    DenseOrientationHeadConfig,
    EncoderConfig,
    FPNDecoderConfig,
    InputConvention,
    LeanOrientationHeadConfig,
    ModelSpec,
    OrientationHeadConfig,
    ScaleHeadConfig,
)
from geopose.models.factory import create_model, resolve_spec
from geopose.models.head_scale import least_squares_scale, scale_from_sums, scale_sums
from geopose.models.model import OUTPUT_KEYS, GeoposeModel
from geopose.models.registry import get_preset, list_presets, register_preset
from geopose.models.saved import load_model, read_model_spec, read_provenance, save_model
from geopose.models.summary import count_gflops, count_parameters

__all__ = [
    "MODEL_SPEC_VERSION",
    "OUTPUT_KEYS",
    "DecoderConfig",
    "DenseHeadConfig",
    "DenseOrientationHeadConfig",
    "EncoderConfig",
    "FPNDecoderConfig",
    "GeoposeModel",
    "InputConvention",
    "LeanOrientationHeadConfig",
    "ModelSpec",
    "OrientationHeadConfig",
    "Provenance",
    "ScaleHeadConfig",
    "count_gflops",
    "count_parameters",
    "create_model",
    "get_preset",
    "least_squares_scale",
    "list_presets",
    "load_model",
    "read_model_spec",
    "read_provenance",
    "register_preset",
    "resolve_spec",
    "save_model",
    "scale_from_sums",
    "scale_sums",
]
