"""Decoded-raster cache: decode each tile once, then read training windows by memory map.

A 2048² lossless JPEG 2000 tile costs about a second to decode here, while a training
step needs only a 768² window of it. The cache stores each decoded raster as a ``.npy``
file (RGB ``uint8`` H×W×3, AGL ``float32`` metres with NaN) next to a small JSON record
of the source file's size and modification time. Reading a window is then a memory-map
slice. An entry whose source changed (stale) or whose files are damaged (corrupt) is
detected on access and rebuilt. Entries are written atomically, so concurrent data
loader workers at worst decode the same tile twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geopose.io.atomic import atomic_path, atomic_write_text
from geopose.io.raster import read_agl, read_rgb

CACHE_VERSION = 1


def _fingerprint(source: Path) -> dict[str, Any]:
    st = source.stat()
    return {"version": CACHE_VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class RasterCache:
    """Memory-mapped decoded copies of RGB and AGL rasters under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.rebuilt = 0  # entries (re)built by this object, for logs and tests

    def _paths(self, source: Path, kind: str) -> tuple[Path, Path]:
        digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:16]
        stem = f"{source.stem}.{digest}.{kind}"
        return self.root / f"{stem}.npy", self.root / f"{stem}.json"

    def rgb(self, source: str | Path) -> NDArray[np.uint8]:
        """The decoded RGB (``uint8`` H×W×3) of ``source``, memory-mapped read-only."""
        return self._get(Path(source), "rgb", lambda p: read_rgb(p))

    def agl(self, source: str | Path) -> NDArray[np.float32]:
        """The decoded AGL (``float32`` metres, NaN = no data) of ``source``, memory-mapped."""
        return self._get(Path(source), "agl", lambda p: read_agl(p))

    def _get(self, source: Path, kind: str, decode: Callable[[Path], NDArray[Any]]) -> Any:
        data_path, meta_path = self._paths(source, kind)
        expected = _fingerprint(source)
        cached = self._open(data_path, meta_path, expected)
        if cached is not None:
            return cached
        array = decode(source)
        with atomic_path(data_path) as tmp:
            np.save(tmp, array, allow_pickle=False)
        record = {**expected, "shape": list(array.shape), "dtype": str(array.dtype)}
        atomic_write_text(meta_path, json.dumps(record))
        self.rebuilt += 1
        return np.load(data_path, mmap_mode="r", allow_pickle=False)

    @staticmethod
    def _open(data_path: Path, meta_path: Path, expected: dict[str, Any]) -> Any:
        """The cached array if it is present, fresh and intact; otherwise None."""
        try:
            record = json.loads(meta_path.read_text())
            if any(record.get(k) != v for k, v in expected.items()):
                return None  # stale: the source changed since the entry was written
            array = np.load(data_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None  # missing or corrupt (truncated .npy, bad JSON)
        if list(array.shape) != record.get("shape") or str(array.dtype) != record.get("dtype"):
            return None
        # A truncated data file can still carry a valid header: check the byte count.
        header_len = os.path.getsize(data_path) - array.nbytes
        if header_len < 0:
            return None
        return array
