"""Rebuild a model from a geopose checkpoint; the SHA-256 that names a checkpoint's bytes.

:func:`load_model` is :func:`geopose.models.load_model`: format-2 checkpoints carry their
model's spec and are rebuilt from it alone; format-1 checkpoints name a preset, resolved
once through the registry. Weights load strictly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from geopose.models.saved import load_model

__all__ = ["file_sha256", "load_model"]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
