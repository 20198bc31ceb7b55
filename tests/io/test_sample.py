"""load_sample: the DESIGN.md §4 Sample of one entry."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from geopose.errors import DataError
from geopose.io.catalog import open_layout
from geopose.io.raster import write_agl
from geopose.io.sample import load_sample


def test_train_sample_has_labels(layout_root: Path, kit: SimpleNamespace) -> None:
    sample = load_sample(open_layout(layout_root).entry("JAX_002"))
    assert set(sample) == {"image", "agl", "gsd", "scale", "angle", "city", "id"}
    np.testing.assert_array_equal(sample["image"], kit.tile_rgb(1))
    np.testing.assert_array_equal(sample["agl"], kit.tile_agl(1))
    assert sample["agl"].dtype == np.float32
    # build_layout wrote scale 1 + n px/m and angle 0.5 + n rad for the n-th id.
    assert sample["scale"] == pytest.approx(2.0)
    assert sample["angle"] == pytest.approx(1.5)
    assert (sample["city"], sample["id"], sample["gsd"]) == ("JAX", "JAX_002", pytest.approx(0.31))


def test_angle_wrapped_into_range(layout_root: Path, kit: SimpleNamespace) -> None:
    kit.write_json(layout_root / "train" / "OMA_001_VFLOW.json", {"scale": 0.01, "angle": -0.5})
    angle = load_sample(open_layout(layout_root).entry("OMA_001"))["angle"]
    assert angle == pytest.approx(2 * math.pi - 0.5)


def test_test_sample_has_no_labels(layout_root: Path) -> None:
    sample = load_sample(open_layout(layout_root).entry("OMA_101", "test"))
    assert set(sample) == {"image", "gsd", "city", "id"}


def test_labels_can_be_skipped(layout_root: Path) -> None:
    sample = load_sample(open_layout(layout_root).entry("JAX_001"), labels=False)
    assert "agl" not in sample


def test_agl_size_mismatch_names_file(layout_root: Path) -> None:
    path = layout_root / "train" / "JAX_001_AGL.tif"
    write_agl(path, np.zeros((5, 7), np.float32))
    with pytest.raises(DataError, match=r"JAX_001_AGL\.tif: AGL is 5×7 px but its image"):
        load_sample(open_layout(layout_root).entry("JAX_001"))
