"""Registry of model presets by name (timm style). Presets are configs, not code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geopose.errors import UsageError
from geopose.models.config import ModelConfig

_PRESETS: dict[str, ModelConfig] = {}


def register_preset(config: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    """Add a preset (a :class:`ModelConfig` or its dict form) under its ``name``."""
    cfg = config if isinstance(config, ModelConfig) else ModelConfig.from_dict(config)
    if cfg.name in _PRESETS:
        raise UsageError(f"model preset {cfg.name!r} is already registered")
    _PRESETS[cfg.name] = cfg
    return cfg


def list_presets() -> list[str]:
    """Names of the registered presets, in registration order."""
    _ensure_builtin()
    return list(_PRESETS)


def get_preset(name: str) -> ModelConfig:
    """The config of preset ``name``; UsageError naming the known ones otherwise."""
    _ensure_builtin()
    if name not in _PRESETS:
        raise UsageError(f"unknown model preset {name!r}; known: {', '.join(_PRESETS)}")
    return _PRESETS[name]


def _ensure_builtin() -> None:
    from geopose.models import presets

    presets.register_builtin()
