"""Finding truth and RGB for predictions; choosing tiles."""

from __future__ import annotations

import numpy as np
import pytest

from geopose.errors import DataError
from geopose.io import write_agl, write_rgb, write_vflow
from geopose.io.layout import ImageMeta, agl_name, rgb_name, vflow_name, write_index
from geopose.viz.sources import TruthItem, pick_tiles, truth_from_folder, truth_from_layout


def _labels(folder, image_id):
    write_agl(folder / agl_name(image_id), np.ones((8, 8), np.float32))
    write_vflow(folder / vflow_name(image_id), 1.0, 0.5)


def test_truth_folder_finds_rgb_beside_or_in_sibling_test(tmp_path):
    truth, test = tmp_path / "test_truth", tmp_path / "test"
    truth.mkdir()
    test.mkdir()
    for i in ("JAX_1", "JAX_2", "OMA_1"):
        _labels(truth, i)
    write_rgb(truth / rgb_name("JAX_1", ".png"), np.zeros((8, 8, 3), np.uint8))
    write_rgb(test / rgb_name("OMA_1", ".tif"), np.zeros((8, 8, 3), np.uint8))
    items = truth_from_folder(truth)
    assert list(items) == ["JAX_1", "JAX_2", "OMA_1"]
    assert items["JAX_1"].rgb == truth / "JAX_1_RGB.png"
    assert items["JAX_2"].rgb is None
    assert items["OMA_1"].rgb == test / "OMA_1_RGB.tif"
    assert items["OMA_1"].city == "OMA"
    assert items["OMA_1"].vflow == truth / "OMA_1_VFLOW.json"
    with pytest.raises(DataError, match="not found"):
        truth_from_folder(tmp_path / "missing")


def _layout(root):
    for sub in ("train", "test", "test_truth"):
        (root / sub).mkdir(parents=True)
    train, test = ["JAX_a", "JAX_b"], ["JAX_t"]
    for i in train:
        _labels(root / "train", i)
        write_rgb(root / "train" / rgb_name(i), np.zeros((8, 8, 3), np.uint8))
    _labels(root / "test_truth", "JAX_t")
    write_rgb(root / "test" / rgb_name("JAX_t"), np.zeros((8, 8, 3), np.uint8))
    meta = {i: ImageMeta(i, "JAX", 0.3) for i in train + test}
    write_index(root, train, test, meta)


def test_layout_prefers_test_truth_when_predicted(tmp_path):
    _layout(tmp_path)
    items = truth_from_layout(tmp_path, ["JAX_t"])
    assert list(items) == ["JAX_t"]
    assert items["JAX_t"].complete
    assert items["JAX_t"].rgb == tmp_path / "test" / "JAX_t_RGB.j2k"
    assert items["JAX_t"].agl == tmp_path / "test_truth" / "JAX_t_AGL.tif"


def test_layout_uses_train_entries_of_predicted_ids(tmp_path):
    _layout(tmp_path)
    items = truth_from_layout(tmp_path, ["JAX_b", "JAX_zzz"])
    assert list(items) == ["JAX_b"]
    assert not items["JAX_b"].complete
    assert items["JAX_b"].agl == tmp_path / "train" / "JAX_b_AGL.tif"


def test_pick_tiles_takes_cities_in_turn(tmp_path):
    def item(i):
        return TruthItem(i, i.split("_")[0], tmp_path, tmp_path, None)

    ids = ["B_1", "A_2", "A_1", "A_3", "C_1", "B_2"]
    items = [item(i) for i in ids]
    assert pick_tiles(items, 4) == ["A_1", "B_1", "C_1", "A_2"]
    assert pick_tiles(items, 10) == ["A_1", "B_1", "C_1", "A_2", "B_2", "A_3"]
    assert pick_tiles(items, 0) == []
