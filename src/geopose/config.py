"""Typed run configuration: dataclasses loaded from YAML and overridden by ``key=value``.

A run is described by one :class:`Config` with sections ``model``, ``data``, ``augment``,
``loss``, ``optim``, ``schedule`` and ``train``. ``load_config(path, overrides)`` reads an
optional YAML file, applies ``section.key=value`` overrides (values parsed as YAML, so
``train.epochs=3`` is an int and ``model.weights=null`` is None), and validates every
value against its declared type. Mistakes are reported with the offending key and, for
an unknown key, the nearest valid one; a value outside a fixed set names the allowed
ones. The resolved config is a plain dict (``config_to_dict``) saved beside runs and in
checkpoints.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from geopose.errors import UsageError

Precision = Literal["fp32", "bf16", "fp16", "auto"]
Split = Literal["city-stratified", "group"]


class ConfigError(UsageError):
    """A configuration key or value is invalid; the message names it."""


def default_loss_terms() -> dict[str, dict[str, Any]]:
    """The one default loss recipe (``loss.terms`` of a config, and
    :func:`geopose.losses.build_loss` without terms): the 2nd place's choice, Huber on
    AGL (δ = 10 m) and MAG (δ = 5 px), direction by cosine + MSE (the term's own
    weights, cosine 1 and MSE 0.1), plus a scale term it lacked."""
    return {
        "agl_huber": {"weight": 1.0, "delta": 10.0},
        "mag_huber": {"weight": 1.0, "delta": 5.0},
        "direction_cos_mse": {"weight": 1.0},
        "scale_mse": {"weight": 1.0},
    }


@dataclass
class ModelChoiceConfig:
    """Which network a run trains: a preset name from ``geopose models`` and how its
    encoder starts (the run config's ``model`` section; the network itself is described
    by :class:`geopose.models.ModelSpec`)."""

    preset: str = "tiny"
    pretrained: bool = False  # ImageNet weights through timm (needs network access)
    # A geopose checkpoint (fine-tune that whole model, its input convention included)
    # or a local encoder weights file (safetensors or state dict); training.start_model.
    weights: str | None = None


@dataclass
class DataConfig:
    """Where the data is and how it is split into folds."""

    root: str | None = None  # competition layout folder (``--data`` sets it)
    folds: int = 5
    fold: int = 0  # the validation fold, 0 <= fold < folds
    split: Split = "city-stratified"
    cache_dir: str | None = None  # decoded-tile cache; default: ROOT/.geopose-cache
    # True: train on fresh synthetic tiles rendered on the fly (one per item per epoch,
    # of the cities of the training fold's tiles; never the same tile twice) instead of
    # the fold's files; validation still uses the fold's files. Synthetic cities only.
    stream: bool = False
    stream_size: int = 256  # px, side of each streamed tile (at least train.crop_size)


@dataclass
class AugmentConfig:
    """Training augmentation level (``none``, ``d4``, ``light``, ``medium``, ``hard``)."""

    level: str = "medium"


@dataclass
class LossConfig:
    """Named loss terms, each with a ``weight`` and its own parameters."""

    terms: dict[str, dict[str, Any]] = field(default_factory=default_loss_terms)


@dataclass
class OptimConfig:
    """Optimizer by name; ``lr`` is for one process at ``train.batch_size``."""

    name: Literal["adamw", "adam", "sgd", "radam"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    # How lr grows with the world size under DDP: none, linear (lr·N) or sqrt (lr·√N).
    lr_scaling: Literal["none", "linear", "sqrt"] = "none"


@dataclass
class ScheduleConfig:
    """Learning-rate schedule over the run's optimizer steps."""

    name: Literal["cosine", "plateau", "onecycle", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01


@dataclass
class TrainConfig:
    """Loop settings. ``max_steps`` (optimizer steps) wins over ``epochs`` when set."""

    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 4
    crop_size: int = 512
    precision: Precision = "auto"  # auto: bf16 on capable CUDA GPUs, fp32 on CPU
    seed: int = 0
    workers: int = 2
    grad_accum: int = 1
    grad_clip: float | None = 5.0
    ema: float | None = None
    channels_last: bool = False
    compile: bool = False
    max_nonfinite: int = 10  # consecutive non-finite steps before the run stops (exit 3)
    checkpoint_every: int | None = None  # steps between last.safetensors saves
    top_k: int = 3
    deterministic: bool = False
    device: str | None = (
        "auto"  # auto (CUDA when available, else cpu) | cpu | cuda | cuda:N; null = auto
    )
    threads: int | None = None  # torch intra-op CPU threads; default: torch's (one per core)
    sync_bn: bool = True  # convert BatchNorm to SyncBatchNorm under DDP on CUDA
    group_timeout_s: float = 1800.0  # DDP: a collective waiting this long fails the job
    time_limit_s: float | None = None  # stop cleanly (checkpoints saved) after this much time
    stop_after_steps: int | None = None  # save and stop at this step, as if killed (tests)
    log_every: int = 10  # optimizer steps between TensorBoard scalars


@dataclass
class Config:
    """A complete run description."""

    model: ModelChoiceConfig = field(default_factory=ModelChoiceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- checks
def _nearest(key: str, options: list[str]) -> str:
    match = difflib.get_close_matches(key, options, n=1, cutoff=0.0)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widen to float)."""
    origin = get_origin(tp)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            names = ", ".join(repr(a) for a in allowed)
            raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {names}")
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: invalid value {value!r}")
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads "3e-4" (no dot) as a string; accept what float() accepts.
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")


def _section_from_dict(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown key '{prefix}{key}'{_nearest(key, names)}")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a :class:`Config` from nested dicts (missing keys get defaults)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(data).__name__}")
    hints = typing.get_type_hints(Config)
    sections = [f.name for f in dataclasses.fields(Config)]
    kwargs = {}
    for name, body in data.items():
        if name not in sections:
            raise ConfigError(f"unknown section '{name}'{_nearest(name, sections)}")
        if not isinstance(body, dict):
            raise ConfigError(f"section '{name}' must be a mapping, got {body!r}")
        kwargs[name] = _section_from_dict(hints[name], body, f"{name}.")
    config = Config(**kwargs)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    if config.data.folds < 2:
        raise ConfigError(f"data.folds: need at least 2 folds, got {config.data.folds}")
    if config.data.stream and config.data.stream_size < config.train.crop_size:
        raise ConfigError(
            f"data.stream_size: {config.data.stream_size} px is smaller than "
            f"train.crop_size ({config.train.crop_size} px)"
        )
    if not 0 <= config.data.fold < config.data.folds:
        raise ConfigError(
            f"data.fold: {config.data.fold} is outside 0..{config.data.folds - 1} "
            f"(data.folds={config.data.folds})"
        )
    positive = {
        "train.batch_size": config.train.batch_size,
        "train.crop_size": config.train.crop_size,
        "train.grad_accum": config.train.grad_accum,
        "train.max_nonfinite": config.train.max_nonfinite,
        "optim.lr": config.optim.lr,
    }
    for key, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    if config.train.max_steps is not None and config.train.max_steps <= 0:
        raise ConfigError(f"train.max_steps: must be positive, got {config.train.max_steps}")
    if config.train.epochs < 0:
        raise ConfigError(f"train.epochs: must be ≥ 0, got {config.train.epochs}")
    for key in ("checkpoint_every", "stop_after_steps", "time_limit_s"):
        value = getattr(config.train, key)
        if value is not None and not value > 0:
            raise ConfigError(f"train.{key}: must be positive or null, got {value}")
    if config.train.threads is not None and config.train.threads < 1:
        raise ConfigError(f"train.threads: must be ≥ 1 or null, got {config.train.threads}")
    if config.train.workers < 0:
        raise ConfigError(f"train.workers: must be ≥ 0, got {config.train.workers}")
    if config.train.ema is not None and not 0 < config.train.ema < 1:
        raise ConfigError(f"train.ema: a decay in (0, 1), got {config.train.ema}")


def config_to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as nested plain dicts (JSON and YAML serialisable)."""
    return dataclasses.asdict(config)


# ----------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value`` into its key path and YAML-parsed value."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override '{text}' is not of the form section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides to nested dicts (a new dict; the input is unchanged)."""
    out = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        if len(path) < 2:
            raise ConfigError(f"override '{text}' needs a section, e.g. train.{path[0]}=...")
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{text}': '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return out


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged in (a new dict): nested dicts merge key by key,
    anything else in ``update`` replaces its value."""
    out = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into nested dicts, with errors that name the file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot read: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML: {' '.join(str(err).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of sections at the top level")
    return data


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> Config:
    """Defaults ← ``base`` (e.g. a resumed run's config) ← YAML file ← ``key=value``.

    Each layer is deep-merged into the one before, so a file or an override that sets
    one loss term's parameter keeps the other terms; set a term's ``weight`` to 0 to
    switch it off.
    """
    data = config_to_dict(Config())
    if base:
        data = deep_merge(data, base)
    if path is not None:
        data = deep_merge(data, read_yaml(path))
    data = apply_overrides(data, overrides or [])
    try:
        return config_from_dict(data)
    except ConfigError as err:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{err}") from None
