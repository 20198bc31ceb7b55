"""Rebuild a model from a geopose checkpoint (safetensors weights + JSON config).

The checkpoint's config has a ``model`` section in one of two forms:

- the training engine's ``{"preset": NAME, "pretrained": ..., "weights": ...}``
  (:class:`geopose.config.ModelConfig`): the preset's architecture is rebuilt; the
  encoder-initialisation fields are ignored, since the checkpoint holds every weight;
- a full model config dict (``geopose.models.ModelConfig.to_dict()``), for models that
  are not presets.

Weights load strictly: a missing or unexpected key is an error naming the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from geopose.checkpoint import load_checkpoint
from geopose.errors import DataError, UsageError
from geopose.models import GeoposeModel, ModelConfig, create_model, resolve_config


def model_config_from(config: Mapping[str, Any], path: str | Path = "<config>") -> ModelConfig:
    """The :class:`ModelConfig` described by a checkpoint config dict (see module text)."""
    section = config.get("model", config)
    if not isinstance(section, Mapping):
        raise DataError(path, "checkpoint config has no 'model' section")
    try:
        if "preset" in section and "encoder" not in section:
            return resolve_config(str(section["preset"]))
        return resolve_config(section)
    except UsageError as err:
        raise DataError(path, f"cannot rebuild the model: {err}") from None


def load_model(path: str | Path, device: str | torch.device = "cpu") -> GeoposeModel:
    """Rebuild the model saved in checkpoint ``path``, on ``device``, in eval mode."""
    p = Path(path)
    state, config, _ = load_checkpoint(p)
    model = create_model(model_config_from(config, p))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        text = " ".join(str(err).split())
        raise DataError(p, f"weights do not match the model: {text[:300]}") from None
    return model.to(device).eval()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
