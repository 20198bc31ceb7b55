"""A model saved with its own description, and rebuilt from it.

:func:`save_model` writes a format-2 checkpoint: the weights plus the model's resolved
:class:`~geopose.models.ModelSpec` (architecture, activations, input convention) in the
safetensors metadata. :func:`load_model` rebuilds the network from that spec alone — it
never consults the preset registry, so editing or removing a preset cannot change what
an old checkpoint loads into — and loads the weights strictly (a missing, unexpected or
misshapen tensor is an error naming the file and the keys).

Format-1 checkpoints (written before the spec was stored) name only their preset in the
run config's ``model`` section, or hold a spec dict there; for them alone the preset is
resolved once through the registry, as they were always read.

Nothing is unpickled: safetensors and JSON only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from geopose.checkpoint import (
    CheckpointHeader,
    Provenance,
    read_checkpoint_header,
    read_tensors,
    save_checkpoint,
)
from geopose.errors import DataError, UsageError
from geopose.models.config import ModelSpec
from geopose.models.model import GeoposeModel
from geopose.models.registry import get_preset
from geopose.models.weights import check_state_dict, load_strict


def save_model(
    path: str | Path,
    model: GeoposeModel,
    *,
    config: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    provenance: Provenance | None = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Write ``model`` to ``path`` (format 2, atomically) with its resolved spec.

    ``state_dict``: the weights to save instead of ``model.state_dict()`` (e.g. an EMA
    copy of the same architecture); they are checked against the model's keys and
    shapes first. ``config``/``extra``/``provenance``: see
    :func:`geopose.checkpoint.save_checkpoint`.
    """
    state = model.state_dict() if state_dict is None else state_dict
    if state_dict is not None:
        try:
            check_state_dict(model, state, path)
        except DataError as err:
            raise UsageError(f"save_model: {err}") from None
    save_checkpoint(path, state, config, extra, model=model.spec.to_dict(), provenance=provenance)


def spec_from_header(header: CheckpointHeader) -> ModelSpec:
    """The spec a checkpoint's model is built from (see the module text)."""
    p = header.path
    if header.model is not None:
        try:
            spec = ModelSpec.from_dict(header.model)
        except UsageError as err:
            raise DataError(p, f"metadata 'geopose.model': {err}") from None
        if not spec.input.is_resolved:
            raise DataError(p, "metadata 'geopose.model': input mean/std are not given")
        return spec
    return _format1_spec(header.config, p)


def read_model_spec(path: str | Path) -> ModelSpec:
    """The :class:`ModelSpec` of checkpoint ``path`` without loading its tensors."""
    return spec_from_header(read_checkpoint_header(path))


def read_provenance(path: str | Path) -> Provenance | None:
    """The provenance block of checkpoint ``path`` (None when it has none)."""
    return read_checkpoint_header(path).provenance


def load_model(path: str | Path, device: str | torch.device = "cpu") -> GeoposeModel:
    """Rebuild the model saved in checkpoint ``path``, on ``device``, in eval mode."""
    header = read_checkpoint_header(path)
    spec = spec_from_header(header)
    try:
        model = GeoposeModel(spec)
    except UsageError as err:
        raise DataError(header.path, f"cannot build the saved model: {err}") from None
    load_strict(model, read_tensors(header.path), header.path)
    return model.to(device).eval()


def _format1_spec(config: Mapping[str, Any], path: Path) -> ModelSpec:
    section = config.get("model", config)
    if not isinstance(section, Mapping):
        raise DataError(path, "checkpoint config has no 'model' section")
    try:
        if "preset" in section and "encoder" not in section:
            return get_preset(str(section["preset"]))
        return ModelSpec.from_dict(section)
    except UsageError as err:
        raise DataError(path, f"cannot rebuild the model: {err}") from None
