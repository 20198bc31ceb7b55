"""Training crops from the decoded-tile cache equal the same augmentation applied to the
tile read straight from its files; validation tiles equal the files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from geopose.data.cache import RasterCache
from geopose.data.dataset import (
    SynthStreamDataset,
    TrainDataset,
    ValDataset,
    build_cache,
    stream_tile_seed,
)
from geopose.data.synth import generate_sample
from geopose.errors import UsageError
from geopose.io import Entry, Layout, load_sample
from geopose.transforms import build_augmentation
from geopose.transforms.warp import source_box


def _same(a: dict, b: dict) -> None:
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["agl"], b["agl"])  # NaN positions included
    for key in ("gsd", "scale", "angle"):
        assert a[key] == b[key], key
    assert (a["city"], a["id"]) == (b["city"], b["id"])


def test_train_crop_equals_augmenting_the_decoded_file(
    small_layout: Layout, tmp_path: Path
) -> None:
    entries = list(small_layout.entries("train"))
    ds = TrainDataset(entries, tmp_path / "cache", level="medium", crop_size=32, seed=9)
    ds.set_epoch(3)
    for index in (0, 4):
        got = ds[index]
        reference = build_augmentation("medium", 32)
        reference.reseed(np.random.default_rng([9, 3, index]))
        _same(got, reference(load_sample(entries[index])))
        assert got["image"].shape == (32, 32, 3)
        assert got["agl"].dtype == np.float32


def test_draws_change_with_epoch_and_index_not_with_repetition(
    small_layout: Layout, tmp_path: Path
) -> None:
    ds = TrainDataset(small_layout.entries("train"), tmp_path / "c", level="light", crop_size=24)
    first = ds[1]
    _same(first, ds[1])
    ds.set_epoch(1)
    assert not np.array_equal(first["image"], ds[1]["image"])


def test_val_tiles_equal_files(small_layout: Layout, tmp_path: Path) -> None:
    entries = list(small_layout.entries("train"))
    ds = ValDataset(entries, tmp_path / "cache")
    assert len(ds) == len(entries)
    for i, entry in enumerate(entries):
        _same(ds[i], load_sample(entry))


def test_cache_built_once_and_rebuilt_when_stale_or_corrupt(
    small_layout: Layout, tmp_path: Path
) -> None:
    entries = list(small_layout.entries("train"))
    cache = RasterCache(tmp_path / "cache")
    assert build_cache(entries, cache, progress=False) == 2 * len(entries)
    assert build_cache(entries, RasterCache(tmp_path / "cache"), progress=False) == 0
    # A source that changed (new mtime) is stale; a truncated .npy is corrupt.
    st = entries[0].rgb.stat()
    os.utime(entries[0].rgb, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    victim = sorted((tmp_path / "cache").glob(f"{entries[1].id}_AGL*.npy"))[0]
    victim.write_bytes(victim.read_bytes()[:-10])
    assert build_cache(entries, RasterCache(tmp_path / "cache"), progress=False) == 2
    _same(ValDataset(entries, tmp_path / "cache")[1], load_sample(entries[1]))


def test_a_crop_reads_only_its_window_of_the_cached_tile(
    small_layout: Layout, tmp_path: Path
) -> None:
    # Scribble over every cached pixel outside the window that the crop's plan (rotation
    # and zoom margin included) needs: the crop must not change.
    entry = small_layout.entries("train")[2]
    ds = TrainDataset([entry], tmp_path / "cache", level="light", crop_size=20, seed=1)
    expected = ds[0]
    probe = build_augmentation("light", 20)
    probe.reseed(np.random.default_rng([1, 0, 0]))
    chain = probe.transforms[0]
    y0, y1, x0, x1 = source_box(chain.plan(expected_hw(entry)))
    assert (y1 - y0) * (x1 - x0) < 48 * 48  # a real window, not the whole tile
    for pattern, value in (("*.rgb.npy", 255), ("*.agl.npy", 999.0)):
        array = np.load(next((tmp_path / "cache").glob(pattern)), mmap_mode="r+")
        outside = np.ones(array.shape[:2], dtype=bool)
        outside[y0:y1, x0:x1] = False
        array[outside] = value
        array.flush()
        del array
    _same(ds[0], expected)


def expected_hw(entry: Entry) -> tuple[int, int]:
    image = load_sample(entry, labels=False)["image"]
    return int(image.shape[0]), int(image.shape[1])


def test_stream_renders_a_fresh_tile_per_item_and_epoch_reproducibly() -> None:
    """Item i of epoch e is the renderer's tile for the stream's seed of (seed, e, i),
    of city i, cropped by the same augmentation a file's tile gets; another epoch or
    index gives another tile, the same triple the same one (a resumed run's tiles)."""
    cities = ["JAX", "OMA", "JAX"]
    ds = SynthStreamDataset(cities, size=48, level="d4", crop_size=32, seed=4)
    ds.set_epoch(2)
    got = ds[1]
    tile = generate_sample("OMA", stream_tile_seed(4, 2, 1), 48)
    reference = build_augmentation("d4", 32)
    reference.reseed(np.random.default_rng([4, 2, 1]))
    expected = reference(tile)
    np.testing.assert_array_equal(got["image"], expected["image"])
    np.testing.assert_array_equal(got["agl"], expected["agl"])
    assert (got["city"], got["scale"], got["angle"]) == ("OMA", tile["scale"], expected["angle"])
    assert got["image"].shape == (32, 32, 3)
    assert got["agl"].dtype == np.float32
    assert len(ds) == 3
    _same(got, ds[1])
    seeds = {stream_tile_seed(4, e, i) for e in range(50) for i in range(50)}
    assert len(seeds) == 2500  # no tile twice
    ds.set_epoch(3)
    assert not np.array_equal(ds[1]["image"], got["image"])


def test_stream_refuses_cities_the_renderer_does_not_know() -> None:
    with pytest.raises(UsageError, match="PARIS is not a synthetic city preset"):
        SynthStreamDataset(["JAX", "PARIS"], size=48, level="d4", crop_size=32)
    with pytest.raises(UsageError, match="smaller than the 64 px crop"):
        SynthStreamDataset(["JAX"], size=48, level="d4", crop_size=64)
