"""Registry of model presets by name (timm style). Presets are named :class:`ModelSpec` s,
not code. Only :func:`geopose.models.create_model` given a name, and the reading of
format-1 checkpoints (which name only their preset), look presets up here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geopose.errors import UsageError
from geopose.models.config import ModelSpec

_PRESETS: dict[str, ModelSpec] = {}


def register_preset(spec: ModelSpec | Mapping[str, Any]) -> ModelSpec:
    """Add a preset (a :class:`ModelSpec` or its dict form) under its ``name``."""
    cfg = spec if isinstance(spec, ModelSpec) else ModelSpec.from_dict(spec)
    if cfg.name in _PRESETS:
        raise UsageError(f"model preset {cfg.name!r} is already registered")
    _PRESETS[cfg.name] = cfg
    return cfg


def list_presets() -> list[str]:
    """Names of the registered presets, in registration order."""
    _ensure_builtin()
    return list(_PRESETS)


def get_preset(name: str) -> ModelSpec:
    """The spec of preset ``name``; UsageError naming the known ones otherwise."""
    _ensure_builtin()
    if name not in _PRESETS:
        raise UsageError(f"unknown model preset {name!r}; known: {', '.join(_PRESETS)}")
    return _PRESETS[name]


def _ensure_builtin() -> None:
    from geopose.models import presets

    presets.register_builtin()
