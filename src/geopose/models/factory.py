"""``create_model``: build a model from a preset name, a spec or its dict form."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geopose.errors import UsageError
from geopose.models.config import ModelSpec
from geopose.models.model import GeoposeModel
from geopose.models.registry import get_preset
from geopose.models.weights import load_weights_file


def resolve_spec(name_or_spec: str | ModelSpec | Mapping[str, Any]) -> ModelSpec:
    """A :class:`ModelSpec` from a preset name (looked up in the registry), a spec, or a
    dict as ``ModelSpec.to_dict`` writes it (never looked up)."""
    if isinstance(name_or_spec, ModelSpec):
        return name_or_spec
    if isinstance(name_or_spec, str):
        return get_preset(name_or_spec)
    if isinstance(name_or_spec, Mapping):
        return ModelSpec.from_dict(name_or_spec)
    raise UsageError(f"create_model: expected a preset name or a model spec, got {name_or_spec!r}")


def create_model(
    name_or_spec: str | ModelSpec | Mapping[str, Any],
    pretrained: bool | str | Path = False,
    weights: str | Path | None = None,
) -> GeoposeModel:
    """Build a geopose model (DESIGN.md §4 contract).

    ``pretrained``: ``False`` (random encoder), ``True`` (timm's pretrained encoder; needs
    a download or timm's cache) or a path to a local encoder weights file (safetensors,
    or a state dict read with ``weights_only=True``). ``weights``: a local file with the
    whole model's state dict, loaded strictly. Build inside ``with torch.device("meta")``
    to get shapes without allocating weights. To rebuild a saved model with its own
    spec, use :func:`geopose.models.load_model`.
    """
    model = GeoposeModel(resolve_spec(name_or_spec), pretrained=pretrained)
    if weights is not None:
        load_weights_file(model, weights)
    return model
