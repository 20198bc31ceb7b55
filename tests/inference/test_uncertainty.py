"""`predict --uncertainty`: AGL spread across TTA views and ensemble members, angle spread."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.crs import CRS

from geopose.cli import main
from geopose.inference.load_model import load_model
from geopose.inference.options import PredictOptions, make_predictor
from geopose.inference.predictor import angle_spread_deg
from geopose.inference.tta import TTAModel, tta_views
from geopose.io import load_sample, open_layout, read_agl
from geopose.io.layout import agl_name
from geopose.io.raster import GeoInfo, write_rgb

FP32 = ["--precision", "fp32", "--device", "cpu", "--no-progress"]


def _views_agl(ckpt: Path, image: np.ndarray, gsd: float, mode: str) -> np.ndarray:
    """AGL of every single view (V×H×W), each de-augmented by hand."""
    model = load_model(ckpt, "cpu").eval()
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    g = torch.tensor([gsd])
    out = []
    with torch.inference_mode():
        for view in tta_views(mode):
            single = TTAModel(model, "none")
            y = single(view.apply(x), g)["agl"]
            out.append(view.invert(y)[0, 0].numpy())
    return np.stack(out)


def test_spread_is_the_std_over_views_and_members(
    tiny_checkpoint: Path, other_checkpoint: Path, synth_layout: Path
) -> None:
    entry = open_layout(synth_layout).entries("test")[0]
    image = load_sample(entry)["image"]
    views = [_views_agl(c, image, entry.gsd, "d4") for c in (tiny_checkpoint, other_checkpoint)]
    opts = PredictOptions(tta="d4", precision="fp32", device="cpu")
    one = make_predictor([tiny_checkpoint], opts).predict_tiles(image[None], [entry.gsd])[0]
    assert one.spread is not None
    np.testing.assert_allclose(one.spread, views[0].std(axis=0), atol=2e-3)
    assert float(one.spread.max()) > 0
    both = make_predictor([tiny_checkpoint, other_checkpoint], opts)
    res = both.predict_tiles(image[None], [entry.gsd])[0]
    assert res.spread is not None
    np.testing.assert_allclose(res.spread, np.concatenate(views).std(axis=0), atol=2e-3)
    plain = PredictOptions(tta="none", precision="fp32", device="cpu")
    alone = make_predictor([tiny_checkpoint], plain).predict_tiles(image[None], [entry.gsd])[0]
    assert alone.spread is not None
    assert float(np.abs(alone.spread).max()) < 1e-3


def test_angle_spread_is_the_circular_std() -> None:
    assert angle_spread_deg(1.0) == 0.0
    # two directions 2α apart: R = cos α, circular std √(−2 ln cos α) ≈ α for small α
    alpha = math.radians(5.0)
    assert angle_spread_deg(math.cos(alpha)) == pytest.approx(5.0, rel=0.01)


def test_cli_writes_spread_maps_beside_the_agl(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    args = ["predict", "--checkpoint", str(tiny_checkpoint), "--data", str(synth_layout),
            "--out", str(out), "--tta", "flip", *FP32, "--uncertainty", "--tar"]  # fmt: skip
    assert main(args) == 0
    for entry in open_layout(synth_layout).entries("test"):
        tif = out / f"{entry.id}_AGL_SPREAD.tif"
        with rasterio.open(tif) as ds:
            spread = ds.read(1)
            assert ds.dtypes[0] == "float32"
        assert spread.shape == read_agl(out / agl_name(entry.id)).shape
        assert np.all(spread >= 0)
        figures = json.loads((out / f"{entry.id}_SPREAD.json").read_text())
        assert figures["angle_spread_deg"] >= 0
        assert figures["agl_spread_mean_m"] == pytest.approx(float(spread.mean()), rel=1e-4)
    # a window-by-window prediction writes the same maps
    windowed = tmp_path / "windowed"
    assert main([*args[:6], str(windowed), *args[7:], "--window", "48", "--overlap", "16"]) == 0
    first = open_layout(synth_layout).entries("test")[0].id
    with rasterio.open(windowed / f"{first}_AGL_SPREAD.tif") as ds:
        assert np.all(np.isfinite(ds.read(1)))


def test_raster_prediction_writes_a_georeferenced_spread_cog(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    entry = open_layout(synth_layout).entries("test")[0]
    image = load_sample(entry)["image"]
    tif = tmp_path / "scene.tif"
    geo = GeoInfo(CRS.from_epsg(32617).to_wkt(), (0.5, 0.0, 500_000.0, 0.0, -0.5, 3_300_000.0))
    write_rgb(tif, image, geo=geo)
    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(tif),
                 "--gsd", "0.5", "--out", str(out), "--tta", "d2", "--window", "48",
                 "--overlap", "16", *FP32, "--uncertainty"]) == 0  # fmt: skip
    with rasterio.open(out / "scene_AGL_SPREAD.tif") as ds:
        assert ds.crs == CRS.from_epsg(32617)
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        spread = ds.read(1)
    assert np.all(spread >= 0)
    assert float(spread.max()) > 0
    figures = json.loads((out / "scene_SPREAD.json").read_text())
    assert figures["agl_spread_mean_m"] == pytest.approx(float(spread.mean()), rel=1e-3)
    with rasterio.open(out / "scene_AGL.tif") as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
