"""write_dataset: a complete, readable layout, byte-identical whatever the worker count."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from geopose.conventions import AGL_NODATA
from geopose.data.synth import LabelFlaws, write_dataset
from geopose.data.synth.dataset import TileTask, tile_sample
from geopose.data.synth.presets import load_presets
from geopose.io.layout import read_csv_rows, read_metadata
from geopose.io.raster import read_agl, read_rgb
from geopose.io.vflow import read_vflow


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "data"
    write_dataset(root, ("ARG", "OMA"), 4, 2, size=48, seed=7, progress=False, preview=True)
    return root


def test_layout_reads_back(small: Path) -> None:
    train = read_csv_rows(small / "geopose_train.csv", ("id", "agl", "json", "rgb"))
    test = read_csv_rows(small / "geopose_test.csv", ("id", "rgb"))
    meta = read_metadata(small / "metadata.csv")
    assert len(train) == 8
    assert len(test) == 4
    assert set(meta) == {r["id"] for r in train} | {r["id"] for r in test}
    for row in train:
        rgb = read_rgb(small / "train" / row["rgb"])
        agl = read_agl(small / "train" / row["agl"])
        scale, angle = read_vflow(small / "train" / row["json"])
        assert rgb.shape == (48, 48, 3)
        assert agl.shape == (48, 48)
        assert scale > 0
        assert 0 <= angle < 2 * np.pi
        assert meta[row["id"]].city == row["id"].split("_")[0]
    for row in test:
        assert (small / "test" / row["rgb"]).exists()
        assert (small / "test_truth" / f"{row['id']}_AGL.tif").exists()
        assert (small / "test_truth" / f"{row['id']}_VFLOW.json").exists()
        assert not (small / "test" / f"{row['id']}_AGL.tif").exists()
    assert (small / "preview" / "ARG.png").exists()
    assert (small / "preview" / "OMA.png").exists()


def test_files_hold_the_generated_sample(small: Path) -> None:
    task = TileTask(str(small), "OMA", "train", 1, 7, 48, 3, None, load_presets())
    sample = tile_sample(task)
    rgb = read_rgb(small / "train" / "OMA_train0001_RGB.j2k")
    np.testing.assert_array_equal(rgb, sample["image"])
    agl = read_agl(small / "train" / "OMA_train0001_AGL.tif")
    np.testing.assert_allclose(agl, sample["agl"], atol=0.005 + 1e-6)  # centimetre rounding
    scale, angle = read_vflow(small / "train" / "OMA_train0001_VFLOW.json")
    assert scale == pytest.approx(sample["scale"], rel=1e-9)
    assert angle == pytest.approx(sample["angle"], abs=1e-12)
    assert read_metadata(small / "metadata.csv")["OMA_train0001"].gsd == sample["gsd"]


def test_groups_follow_districts_and_split(small: Path) -> None:
    meta = read_metadata(small / "metadata.csv")
    groups = {i: m.group for i, m in meta.items()}
    assert groups["ARG_train0000"] == groups["ARG_train0002"]  # tiles 0-2 share a district
    assert groups["ARG_train0000"] != groups["ARG_train0003"]
    train_groups = {g for i, g in groups.items() if "_train" in i}
    test_groups = {g for i, g in groups.items() if "_test" in i}
    assert not train_groups & test_groups


def test_tiles_of_a_district_overlap() -> None:
    """Two tiles of one district at a shared view show the same place (shifted)."""
    from geopose.data.synth import generate_sample

    def tile(seed: int) -> np.ndarray:
        return generate_sample(
            "ARG", seed, 64, gsd=0.35, angle=0.3, elevation=1.3, district_seed=5,
            district_extent=64 * 0.35 * 1.2, haze=False,
        )["agl"]  # fmt: skip

    a, b = tile(1), tile(2)

    def mismatch(dy: int, dx: int) -> float:
        pa = a[max(dy, 0) : 64 + min(dy, 0), max(dx, 0) : 64 + min(dx, 0)]
        pb = b[max(-dy, 0) : 64 + min(-dy, 0), max(-dx, 0) : 64 + min(-dx, 0)]
        return float(np.abs(pa - pb).mean())

    # the AGL of b is a shifted copy of a's over their overlap (≥ 0.8² of a tile)
    errors = [mismatch(dy, dx) for dy in range(-14, 15) for dx in range(-14, 15)]
    assert min(errors) < 0.25 * float(np.median(errors))


@pytest.mark.slow
def test_byte_identical_whatever_the_workers(tmp_path: Path) -> None:
    one, two = tmp_path / "w1", tmp_path / "w2"
    write_dataset(one, ("JAX", "ATL"), 2, 1, size=40, seed=3, workers=1, progress=False)
    write_dataset(two, ("JAX", "ATL"), 2, 1, size=40, seed=3, workers=2, progress=False)
    d1, d2 = digest(one), digest(two)
    assert len(d1) == 4 * 3 + 2 + 2 * 2 + 3  # train triples, test RGB, truth pairs, CSVs
    assert d1 == d2


def test_training_flaws_reach_the_files_and_test_truth_stays_clean(tmp_path: Path) -> None:
    import rasterio

    flaws = LabelFlaws(nodata_patches=40, speckle=0.01)
    write_dataset(tmp_path, ("OMA",), 1, 1, size=64, seed=1, train_flaws=flaws, progress=False)
    with rasterio.open(tmp_path / "train" / "OMA_train0000_AGL.tif") as ds:
        assert (ds.read(1) == AGL_NODATA).any()
    with rasterio.open(tmp_path / "test_truth" / "OMA_test0000_AGL.tif") as ds:
        assert not (ds.read(1) == AGL_NODATA).any()
