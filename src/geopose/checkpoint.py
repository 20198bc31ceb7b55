"""Checkpoints: safetensors weights with the resolved config in their metadata.

Nothing here unpickles: weights are safetensors, the config and any extra state are
JSON stored in the safetensors header under ``geopose.*`` keys. A format version lets
later versions read older files (or refuse them with a clear message).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from geopose.errors import DataError
from geopose.io.atomic import atomic_path

FORMAT_VERSION = 1
_FORMAT_KEY = "geopose.format_version"
_CONFIG_KEY = "geopose.config"
_EXTRA_KEY = "geopose.extra"


def save_checkpoint(
    path: str | Path,
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``state_dict`` and the JSON-serialisable ``config`` to ``path`` atomically.

    ``extra`` holds small JSON facts (step, epoch, score). Tensors sharing storage are
    saved as independent copies, so any state dict can be saved.
    """
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    metadata = {
        _FORMAT_KEY: str(FORMAT_VERSION),
        _CONFIG_KEY: json.dumps(config, sort_keys=True),
        _EXTRA_KEY: json.dumps(extra or {}, sort_keys=True),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_checkpoint_metadata(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, extra) of a checkpoint without loading its tensors."""
    p = Path(path)
    meta = _metadata(p)
    return _json_field(p, meta, _CONFIG_KEY), _json_field(p, meta, _EXTRA_KEY)


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read ``(state_dict, config, extra)``; errors name the file and the problem."""
    p = Path(path)
    config, extra = read_checkpoint_metadata(p)
    try:
        with safe_open(str(p), framework="pt", device=str(device)) as f:
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as err:
        raise DataError(p, f"corrupt checkpoint tensors: {err}") from None
    return state, config, extra


def _metadata(p: Path) -> dict[str, str]:
    if not p.exists():
        raise DataError(p, "checkpoint not found")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:
        raise DataError(p, f"not a safetensors checkpoint: {err}") from None
    version = meta.get(_FORMAT_KEY)
    if version is None:
        raise DataError(p, "safetensors file without geopose metadata (not a geopose checkpoint)")
    if int(version) > FORMAT_VERSION:
        raise DataError(
            p, f"checkpoint format {version} is newer than this geopose ({FORMAT_VERSION})"
        )
    return dict(meta)


def _json_field(p: Path, meta: dict[str, str], key: str) -> dict[str, Any]:
    try:
        value = json.loads(meta.get(key, "{}"))
    except json.JSONDecodeError as err:
        raise DataError(p, f"metadata '{key}' is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise DataError(p, f"metadata '{key}' is not a JSON object")
    return value
