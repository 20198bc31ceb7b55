"""``create_model``: build a model from a preset name, a config or its dict form."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geopose.errors import UsageError
from geopose.models.config import ModelConfig
from geopose.models.model import GeoposeModel
from geopose.models.registry import get_preset
from geopose.models.weights import load_weights_file


def resolve_config(name_or_config: str | ModelConfig | Mapping[str, Any]) -> ModelConfig:
    """A :class:`ModelConfig` from a preset name, a config, or a dict (as ``to_dict`` writes)."""
    if isinstance(name_or_config, ModelConfig):
        return name_or_config
    if isinstance(name_or_config, str):
        return get_preset(name_or_config)
    if isinstance(name_or_config, Mapping):
        return ModelConfig.from_dict(name_or_config)
    raise UsageError(f"create_model: expected a preset name or config, got {name_or_config!r}")


def create_model(
    name_or_config: str | ModelConfig | Mapping[str, Any],
    pretrained: bool | str | Path = False,
    weights: str | Path | None = None,
) -> GeoposeModel:
    """Build a geopose model (DESIGN.md §4 contract).

    ``pretrained``: ``False`` (random encoder), ``True`` (timm's pretrained encoder; needs
    a download or timm's cache) or a path to a local encoder weights file (safetensors,
    or a state dict read with ``weights_only=True``). ``weights``: a local file with the
    whole model's state dict, loaded strictly. Build inside ``with torch.device("meta")``
    to get shapes without allocating weights.
    """
    model = GeoposeModel(resolve_config(name_or_config), pretrained=pretrained)
    if weights is not None:
        load_weights_file(model, weights)
    return model
