"""Checkpoints: safetensors weights with JSON metadata in their header.

Nothing here unpickles: weights are safetensors, everything else is JSON stored in the
safetensors header under ``geopose.*`` keys (all values are strings, as safetensors
requires):

==========================  ========================================================
``geopose.format_version``  ``"2"`` (this writer); ``"1"`` files are still read
``geopose.model``           format 2: the model's resolved spec
                            (:meth:`geopose.models.ModelSpec.to_dict`), which rebuilds
                            the network without the preset registry
``geopose.config``          the run config (training runs) or ``{}``
``geopose.extra``           small facts: step, epoch, score
``geopose.provenance``      optional (:class:`Provenance`): where imported weights
                            came from
``geopose.software``        versions of geopose, torch and timm that wrote the file
                            (informational)
==========================  ========================================================

Format 1 had only ``format_version``, ``config`` (whose ``model`` section named a
preset, or held a model spec dict) and ``extra``. Readers refuse newer formats and
unknown ``geopose.*`` keys with a one-line error naming the file.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from geopose.errors import DataError, UsageError
from geopose.io.atomic import atomic_path

#: The format this module writes.
FORMAT_VERSION = 2
#: The formats it reads.
READABLE_FORMATS = (1, 2)

_FORMAT_KEY = "geopose.format_version"
_MODEL_KEY = "geopose.model"
_CONFIG_KEY = "geopose.config"
_EXTRA_KEY = "geopose.extra"
_PROVENANCE_KEY = "geopose.provenance"
_SOFTWARE_KEY = "geopose.software"
_KEYS_BY_FORMAT = {
    1: {_FORMAT_KEY, _CONFIG_KEY, _EXTRA_KEY},
    2: {_FORMAT_KEY, _MODEL_KEY, _CONFIG_KEY, _EXTRA_KEY, _PROVENANCE_KEY, _SOFTWARE_KEY},
}


@dataclass(frozen=True)
class Provenance:
    """Where a checkpoint's weights came from (set by importers of published models).

    ``source``: the source file's name; ``sha256``: hex SHA-256 of its bytes;
    ``origin``: who published it and in which form (e.g. "2nd place, Catalyst
    checkpoint"); ``epoch``: the training epoch stored in it; ``metrics``: the
    validation figures stored in it (name → number, or null); ``notes``: free text.
    """

    source: str
    sha256: str
    origin: str = ""
    epoch: int | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise UsageError("provenance: source must be a non-empty file name")
        digest = self.sha256
        if not (
            isinstance(digest, str)
            and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)
        ):
            raise UsageError(f"provenance: sha256 must be 64 lower-case hex digits, got {digest!r}")
        for key in ("origin", "notes"):
            if not isinstance(getattr(self, key), str):
                raise UsageError(f"provenance: {key} must be text")
        if self.epoch is not None and (
            isinstance(self.epoch, bool) or not isinstance(self.epoch, int)
        ):
            raise UsageError(f"provenance: epoch must be an integer or null, got {self.epoch!r}")
        if not isinstance(self.metrics, Mapping):
            raise UsageError("provenance: metrics must be a mapping of name -> number")
        for name, value in self.metrics.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not isinstance(name, str) or not (
                value is None or (number and math.isfinite(value))
            ):
                raise UsageError(
                    f"provenance: metric {name!r} must be a finite number or null, got {value!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Build from :meth:`to_dict`'s form; unknown or missing fields raise UsageError."""
        if not isinstance(data, Mapping):
            raise UsageError("provenance must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"provenance has unknown field(s) {', '.join(unknown)}")
        missing = [k for k in ("source", "sha256") if k not in data]
        if missing:
            raise UsageError(f"provenance: missing field(s) {', '.join(missing)}")
        values = dict(data)
        if isinstance(values.get("metrics"), Mapping):
            values["metrics"] = dict(values["metrics"])
        return cls(**values)


@dataclass(frozen=True)
class CheckpointHeader:
    """Everything a checkpoint says besides its tensors.

    ``model`` is the model spec dict (format 2) or ``None`` (format 1, whose ``config``
    names the model); ``software`` maps package names to versions (empty in format 1).
    """

    path: Path
    format_version: int
    model: dict[str, Any] | None
    config: dict[str, Any]
    extra: dict[str, Any]
    provenance: Provenance | None
    software: dict[str, Any]


def software_versions() -> dict[str, str]:
    """Versions of the packages that shape a saved model (recorded, never enforced)."""
    from geopose import __version__

    versions = {"geopose": __version__, "torch": str(torch.__version__)}
    with contextlib.suppress(metadata.PackageNotFoundError):  # timm is a dependency
        versions["timm"] = metadata.version("timm")
    return versions


def save_checkpoint(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    config: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    *,
    model: Mapping[str, Any],
    provenance: Provenance | None = None,
) -> None:
    """Write a format-2 checkpoint to ``path`` atomically.

    ``model``: the model's resolved spec dict (``GeoposeModel.spec.to_dict()``; prefer
    :func:`geopose.models.save_model`, which takes it from the model itself).
    ``config``: the run config (JSON-serialisable), ``extra`` small JSON facts (step,
    epoch, score), ``provenance`` where imported weights came from. Tensors sharing
    storage are saved as independent copies, so any state dict can be saved.
    """
    if not isinstance(model, Mapping) or "encoder" not in model:
        raise UsageError("save_checkpoint: model must be a model spec dict (ModelSpec.to_dict())")
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    metadata_ = {
        _FORMAT_KEY: str(FORMAT_VERSION),
        _MODEL_KEY: _dumps(model, path, "model"),
        _CONFIG_KEY: _dumps(config or {}, path, "config"),
        _EXTRA_KEY: _dumps(extra or {}, path, "extra"),
        _SOFTWARE_KEY: _dumps(software_versions(), path, "software"),
    }
    if provenance is not None:
        metadata_[_PROVENANCE_KEY] = _dumps(provenance.to_dict(), path, "provenance")
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata_)


def read_checkpoint_header(path: str | Path) -> CheckpointHeader:
    """The metadata of a checkpoint (format 1 or 2) without loading its tensors."""
    p = Path(path)
    meta = _metadata(p)
    version = _format_version(p, meta)
    unknown = sorted(
        k for k in meta if k.startswith("geopose.") and k not in _KEYS_BY_FORMAT[version]
    )
    if unknown:
        raise DataError(p, f"unknown metadata key(s) for format {version}: {', '.join(unknown)}")
    model: dict[str, Any] | None = None
    provenance: Provenance | None = None
    software: dict[str, Any] = {}
    if version >= 2:
        if _MODEL_KEY not in meta:
            raise DataError(p, f"format-{version} checkpoint without '{_MODEL_KEY}' metadata")
        model = _json_field(p, meta, _MODEL_KEY)
        software = _json_field(p, meta, _SOFTWARE_KEY)
        if _PROVENANCE_KEY in meta:
            try:
                provenance = Provenance.from_dict(_json_field(p, meta, _PROVENANCE_KEY))
            except (UsageError, TypeError) as err:
                raise DataError(p, f"metadata '{_PROVENANCE_KEY}': {err}") from None
    return CheckpointHeader(
        path=p,
        format_version=version,
        model=model,
        config=_json_field(p, meta, _CONFIG_KEY),
        extra=_json_field(p, meta, _EXTRA_KEY),
        provenance=provenance,
        software=software,
    )


def is_geopose_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a safetensors file with geopose metadata (any format version).

    False for a missing file, another format (e.g. a torch pickle) or a plain
    safetensors state dict; reads only the header.
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:  # not safetensors at all
        return False
    return _FORMAT_KEY in meta


def read_checkpoint_metadata(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, extra) of a checkpoint without loading its tensors."""
    header = read_checkpoint_header(path)
    return header.config, header.extra


def read_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on ``device``; DataError naming it if corrupt."""
    p = Path(path)
    try:
        with safe_open(str(p), framework="pt", device=str(device)) as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as err:
        raise DataError(p, f"corrupt checkpoint tensors: {err}") from None


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read ``(state_dict, config, extra)``; errors name the file and the problem."""
    header = read_checkpoint_header(path)
    return read_tensors(header.path, device), header.config, header.extra


def _dumps(value: Any, path: str | Path, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise UsageError(f"{path}: checkpoint {what} is not plain JSON: {err}") from None


def _metadata(p: Path) -> dict[str, str]:
    if not p.exists():
        raise DataError(p, "checkpoint not found")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:
        raise DataError(p, f"not a safetensors checkpoint: {err}") from None
    if _FORMAT_KEY not in meta:
        raise DataError(p, "safetensors file without geopose metadata (not a geopose checkpoint)")
    return dict(meta)


def _format_version(p: Path, meta: Mapping[str, str]) -> int:
    text = meta[_FORMAT_KEY]
    try:
        version = int(text)
    except ValueError:
        raise DataError(p, f"checkpoint format {text!r} is not a number") from None
    if version > FORMAT_VERSION:
        raise DataError(
            p, f"checkpoint format {version} is newer than this geopose reads ({FORMAT_VERSION})"
        )
    if version not in READABLE_FORMATS:
        raise DataError(p, f"checkpoint format {version} is unknown (this geopose reads 1, 2)")
    return version


def _json_field(p: Path, meta: Mapping[str, str], key: str) -> dict[str, Any]:
    try:
        value = json.loads(meta.get(key, "{}"))
    except json.JSONDecodeError as err:
        raise DataError(p, f"metadata '{key}' is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise DataError(p, f"metadata '{key}' is not a JSON object")
    return value
