"""Decoded-raster cache: exact contents, reuse, stale and corrupt entries rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from geopose.data.cache import RasterCache
from geopose.io import read_agl, read_rgb, write_agl, write_rgb


def _tile(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    rgb = tmp_path / "ARG_a_RGB.j2k"
    agl = tmp_path / "ARG_a_AGL.tif"
    write_rgb(rgb, rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    heights = rng.random((40, 48)).astype(np.float32) * 30
    heights[:3, :3] = np.nan
    write_agl(agl, heights)
    return rgb, agl


def test_cached_arrays_equal_decoded_files(tmp_path: Path) -> None:
    rgb, agl = _tile(tmp_path)
    cache = RasterCache(tmp_path / "cache")
    assert np.array_equal(cache.rgb(rgb), read_rgb(rgb))
    assert np.array_equal(cache.agl(agl), read_agl(agl), equal_nan=True)
    window = cache.rgb(rgb)[5:20, 7:30]
    assert np.array_equal(window, read_rgb(rgb, window=(5, 7, 15, 23)))
    assert cache.rebuilt == 2
    again = RasterCache(tmp_path / "cache")
    again.rgb(rgb)
    again.agl(agl)
    assert again.rebuilt == 0


def test_stale_entry_is_rebuilt(tmp_path: Path) -> None:
    rgb, _ = _tile(tmp_path)
    cache = RasterCache(tmp_path / "cache")
    cache.rgb(rgb)
    new = np.full((40, 48, 3), 7, np.uint8)
    write_rgb(rgb, new)
    st = rgb.stat()
    os.utime(rgb, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert np.array_equal(cache.rgb(rgb), new)
    assert cache.rebuilt == 2


def test_corrupt_entries_are_rebuilt(tmp_path: Path) -> None:
    rgb, agl = _tile(tmp_path)
    cache = RasterCache(tmp_path / "cache")
    cache.rgb(rgb)
    cache.agl(agl)
    for npy in (tmp_path / "cache").glob("*.rgb.npy"):
        npy.write_bytes(npy.read_bytes()[:200])  # truncated data
    for meta in (tmp_path / "cache").glob("*.agl.json"):
        meta.write_text("{not json")
    fresh = RasterCache(tmp_path / "cache")
    assert np.array_equal(fresh.rgb(rgb), read_rgb(rgb))
    assert np.array_equal(fresh.agl(agl), read_agl(agl), equal_nan=True)
    assert fresh.rebuilt == 2
