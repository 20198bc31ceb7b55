"""Validation = the official metric over whole tiles, fed image by image as numpy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from geopose.data.collate import collate_samples
from geopose.data.dataset import ValDataset
from geopose.io import open_layout
from geopose.metrics import GeoposeMetric
from geopose.models import create_model
from geopose.runtime import DistInfo
from geopose.training.validate import evaluate


def test_evaluate_equals_the_metric_fed_tile_by_tile(synth_root: Path, tmp_path: Path) -> None:
    entries = list(open_layout(synth_root).entries("train"))[:4]
    tiles = ValDataset(entries, tmp_path / "cache")
    torch.manual_seed(0)
    model = create_model("tiny").eval()
    loader = DataLoader(tiles, batch_size=2, collate_fn=collate_samples)
    got = evaluate(model, loader, precision="fp32", device=torch.device("cpu"), info=DistInfo())

    reference = GeoposeMetric()
    for i in range(len(tiles)):
        s = tiles[i]
        image = torch.from_numpy(s["image"]).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            pred = model(image, torch.tensor([s["gsd"]]))
        reference.update(
            s["city"], pred["agl"][0, 0].numpy(), float(pred["scale"][0]),
            float(pred["angle"][0]), s["agl"], s["scale"], s["angle"],
        )  # fmt: skip
    expected = reference.compute().as_dict()
    assert got["score"] == pytest.approx(expected["score"], abs=1e-9)
    assert got["cities"].keys() == expected["cities"].keys()
    for city in got["cities"]:
        assert got["cities"][city]["images"] == expected["cities"][city]["images"]
        assert got["cities"][city]["agl_r2"] == pytest.approx(expected["cities"][city]["agl_r2"])
    assert model.training is False
