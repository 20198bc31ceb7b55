"""The prediction manifest: which settings made the outputs of a folder, and which ids are done.

``OUT/manifest.json`` (``OUT/manifest.rank{N}.json`` for rank N > 0 of a torchrun job)
holds::

    {"version": 1,
     "settings": {"checkpoints": [sha256, ...], "weights", "tta", "precision",
                  "window", "overlap"},
     "info": {"checkpoint_paths": [...]},
     "complete": {"ID": {"scale": px/m, "angle": rad}, ...}}

An id counts as complete when a manifest with the same settings lists it **and** both of
its output files exist. Outputs made with other settings are refused unless the caller
overwrites them. Every write is atomic, so an interrupted run loses at most the image
it was writing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geopose.errors import DataError, UsageError
from geopose.io.atomic import atomic_write_text
from geopose.io.layout import agl_name, vflow_name

MANIFEST = "manifest.json"
VERSION = 1


def manifest_path(out: Path, rank: int = 0) -> Path:
    """The manifest file of ``rank`` in folder ``out``."""
    return out / (MANIFEST if rank == 0 else f"manifest.rank{rank}.json")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # unreadable, not UTF-8, not JSON
        raise DataError(path, f"unreadable prediction manifest: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise DataError(path, "not a geopose prediction manifest")
    complete = data.get("complete", {})
    if not isinstance(complete, dict) or not all(isinstance(k, str) for k in complete):
        raise DataError(path, "not a geopose prediction manifest ('complete' is not a mapping)")
    return data


def read_settings(out: Path) -> dict[str, Any] | None:
    """The settings recorded by the manifest of folder ``out`` (rank 0's), or None when
    the folder has none; :class:`DataError` naming the file when it is unreadable."""
    path = manifest_path(out)
    if not path.is_file():
        return None
    settings = _read(path)["settings"]
    if not isinstance(settings, dict):
        raise DataError(path, "its settings are not a JSON object")
    return settings


def _settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


class Manifest:
    """Settings and completed ids of a prediction folder, for one process (rank)."""

    def __init__(
        self,
        out: Path,
        settings: Mapping[str, Any],
        rank: int = 0,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.out = out
        self.settings = dict(settings)
        self.info = dict(info or {})
        self.path = manifest_path(out, rank)
        self.complete: dict[str, dict[str, float]] = {}

    @classmethod
    def open(
        cls,
        out: Path,
        settings: Mapping[str, Any],
        *,
        rank: int = 0,
        overwrite: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Read every manifest in ``out``; refuse other settings unless ``overwrite``.

        ``info`` is recorded but not compared (e.g. where the checkpoints were). With
        ``overwrite`` the earlier completion records are dropped (their files are
        rewritten as the run reaches them).
        """
        manifest = cls(out, settings, rank, info)
        if overwrite and manifest.path.exists():
            manifest.path.unlink()
        for path in sorted(out.glob("manifest*.json")):
            data = _read(path)
            diff = _settings_diff(data["settings"], manifest.settings)
            if diff and not overwrite:
                raise UsageError(
                    f"{path}: the outputs in {out} were made with other settings "
                    f"({', '.join(diff)} differ); use --overwrite to replace them or "
                    "choose another --out"
                )
            if not diff and not overwrite:
                manifest.complete.update(data.get("complete", {}))
        return manifest

    def is_complete(self, image_id: str) -> bool:
        """True when ``image_id`` was finished with these settings and its files exist."""
        return (
            image_id in self.complete
            and (self.out / agl_name(image_id)).is_file()
            and (self.out / vflow_name(image_id)).is_file()
        )

    def mark(self, image_id: str, scale: float, angle: float) -> None:
        """Record ``image_id`` as written (scale px/m, angle rad) and save the manifest."""
        self.complete[image_id] = {"scale": scale, "angle": angle}
        self.save()

    def save(self) -> None:
        """Write this rank's manifest atomically."""
        data = {
            "version": VERSION,
            "settings": self.settings,
            "info": self.info,
            "complete": self.complete,
        }
        atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
