"""geopose.read_tile and geopose.synth (geopose.api.data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geopose
from geopose.errors import UsageError
from geopose.io import load_sample, open_layout


def test_read_tile_is_the_layouts_sample(layout: Path) -> None:
    entries = open_layout(layout)
    train_id = entries.entries("train")[0].id
    tile = geopose.read_tile(layout, train_id)
    expected = load_sample(entries.entry(train_id, "train"))
    assert tile.keys() == expected.keys() >= {"image", "agl", "gsd", "scale", "angle", "city"}
    np.testing.assert_array_equal(tile["image"], expected["image"])
    np.testing.assert_array_equal(tile["agl"], expected["agl"])
    assert (tile["gsd"], tile["scale"], tile["angle"]) == (
        expected["gsd"],
        expected["scale"],
        expected["angle"],
    )

    test_id = entries.entries("test")[0].id
    assert "agl" in geopose.read_tile(layout, test_id)  # found in test_truth first
    unlabelled = geopose.read_tile(layout, test_id, "test")
    assert "agl" not in unlabelled
    assert "agl" not in geopose.read_tile(layout, train_id, labels=False)
    with pytest.raises(UsageError, match="'OMA_9999' is not in any split"):
        geopose.read_tile(layout, "OMA_9999")
    with pytest.raises(UsageError, match=f"'{train_id}' is not in split 'test'"):
        geopose.read_tile(layout, train_id, "test")
    with pytest.raises(UsageError, match="split 'val'"):
        geopose.read_tile(layout, train_id, "val")


def test_synth_writes_a_layout(tmp_path: Path) -> None:
    summary = geopose.synth(
        tmp_path / "d", cities=["ATL"], train_per_city=2, test_per_city=1, size=32, seed=1
    )
    assert len(summary.train_ids) == 2
    assert len(summary.test_ids) == 1
    layout = open_layout(tmp_path / "d")
    assert [e.id for e in layout.entries("train")] == summary.train_ids
    assert [e.id for e in layout.entries("test_truth")] == summary.test_ids
    assert geopose.read_tile(tmp_path / "d", summary.train_ids[0])["image"].shape == (32, 32, 3)
    with pytest.raises(ValueError, match="unknown cities"):
        geopose.synth(tmp_path / "e", cities=["XYZ"])
