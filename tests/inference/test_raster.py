"""predict_raster / ``geopose predict --image``: any-size rasters through sliding windows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio

from agl_compare import assert_file_matches_prediction, assert_files_match
from geopose.cli import main
from geopose.conventions import agl_m_to_cm, direction_to_angle, scale_from_file
from geopose.data.synth import generate_sample
from geopose.inference.options import PredictOptions, make_predictor
from geopose.inference.raster import predict_raster
from geopose.io import GeoInfo, read_agl, read_geo, write_rgb

CRS_WKT = rasterio.crs.CRS.from_epsg(32615).to_wkt()
TRANSFORM = (0.3, 0.0, 500000.0, 0.0, -0.3, 3300000.0)


@pytest.fixture(scope="module")
def raster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A georeferenced 96 × 160 px RGB GeoTIFF cut from a synthetic city."""
    image = generate_sample("JAX", 21, size=160)["image"][:96]
    path = tmp_path_factory.mktemp("raster") / "scene.tif"
    write_rgb(path, np.ascontiguousarray(image), geo=GeoInfo(CRS_WKT, TRANSFORM))
    return path


def _ramp(n: int, overlap: int, start: bool, end: bool) -> np.ndarray:
    w = np.ones(n)
    r = np.array([0.5 - 0.5 * math.cos(math.pi * (i + 0.5) / overlap) for i in range(overlap)])
    if start:
        w[:overlap] = r
    if end:
        w[n - overlap :] = np.minimum(w[n - overlap :], r[::-1])
    return w


def test_windowed_raster_matches_an_independent_blend(
    tiny_checkpoint: Path, raster: Path, tmp_path: Path
) -> None:
    opts = PredictOptions(
        tta="flip", precision="fp32", device="cpu", window=64, overlap=16, batch_size=2
    )
    summary = predict_raster([tiny_checkpoint], raster, 0.3, tmp_path, options=opts, progress=False)
    assert summary.agl.name == "scene_AGL.tif"
    geo = read_geo(summary.agl)
    assert geo.transform == pytest.approx(TRANSFORM)
    assert rasterio.crs.CRS.from_wkt(geo.crs) == rasterio.crs.CRS.from_wkt(CRS_WKT)
    got = read_agl(summary.agl)
    assert got.shape == (96, 160)

    # Reference: each window predicted on its own, blended with weights computed here.
    image = rasterio.open(raster).read().transpose(1, 2, 0)
    single = make_predictor(
        [tiny_checkpoint],
        PredictOptions(tta="flip", precision="fp32", device="cpu", window=64, overlap=0),
    )
    acc, wsum = np.zeros((96, 160)), np.zeros((96, 160))
    num = den = 0.0
    vec = np.zeros(2)
    tops, lefts = [0, 32], [0, 48, 96]
    for top in tops:
        for left in lefts:
            res = single.predict_tiles(image[None, top : top + 64, left : left + 64], [0.3])[0]
            w = np.outer(
                _ramp(64, 16, top > 0, top + 64 < 96), _ramp(64, 16, left > 0, left + 64 < 160)
            )
            acc[top : top + 64, left : left + 64] += w * res.agl
            wsum[top : top + 64, left : left + 64] += w
            num, den = num + res.num, den + res.den
            vec += res.den * np.array(res.direction)
    expected_cm = agl_m_to_cm(acc / wsum).astype(int)
    assert np.abs(agl_m_to_cm(got).astype(int) - expected_cm).max() <= 1
    assert len(summary.result.windows) == 6
    vflow = json.loads(summary.vflow.read_text())
    assert scale_from_file(vflow["scale"]) == pytest.approx(num / den, rel=1e-5)
    assert vflow["angle"] == pytest.approx(direction_to_angle(vec[0], vec[1]), abs=1e-5)


def test_raster_that_fits_one_window_equals_the_tile_prediction(
    tiny_checkpoint: Path, raster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "one"
    code = main(
        [
            "predict",
            "--checkpoint",
            str(tiny_checkpoint),
            "--image",
            str(raster),
            "--gsd",
            "0.3",
            "--out",
            str(out),
            "--tta",
            "d2",
            "--precision",
            "fp32",
            "--device",
            "cpu",
            "--no-progress",
            "--rectify",
            "--json",
            str(tmp_path / "s.json"),
        ]
    )
    assert code == 0
    assert "1 window(s)" in capsys.readouterr().out
    image = rasterio.open(raster).read().transpose(1, 2, 0)
    opts = PredictOptions(tta="d2", precision="fp32", device="cpu")
    res = make_predictor([tiny_checkpoint], opts).predict_tiles(image[None], [0.3])[0]
    assert_file_matches_prediction(read_agl(out / "scene_AGL.tif"), res.agl)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["scale"] == pytest.approx(res.scale, rel=1e-6)
    assert (out / "rectified" / "scene_RGB_rectified.tif").is_file()


def test_gsd_of_a_metric_raster_is_read_from_its_crs(
    tiny_checkpoint: Path, raster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(raster)]
    common += ["--tta", "none", "--precision", "fp32", "--device", "cpu", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "read"), "--json", str(tmp_path / "r.json")]) == 0
    assert "GSD 0.3 m/px, read from its CRS" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["gsd_from_crs"] is True
    # A different GSD changes the prediction (the model takes it as input), so equal
    # outputs show that 0.3 m/px was used.
    assert main([*common, "--out", str(tmp_path / "given"), "--gsd", "0.3"]) == 0
    assert main([*common, "--out", str(tmp_path / "other"), "--gsd", "0.6"]) == 0
    read, given = (read_agl(tmp_path / d / "scene_AGL.tif") for d in ("read", "given"))
    np.testing.assert_array_equal(read, given)
    assert not np.array_equal(read, read_agl(tmp_path / "other" / "scene_AGL.tif"))


def test_raster_without_a_metric_crs_needs_gsd(
    tiny_checkpoint: Path, raster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.png"
    write_rgb(plain, rasterio.open(raster).read().transpose(1, 2, 0))
    args = ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(plain)]
    assert main([*args, "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "plain.png: no GSD: the raster has no CRS" in err
    assert "--gsd" in err
    assert main([*args, "--out", str(tmp_path / "o"), "--gsd", "-1"]) == 2


def test_layout_tiles_larger_than_the_window_match_the_streamed_raster_path(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    from geopose.inference.layout import predict_layout
    from geopose.io import open_layout, read_rgb
    from geopose.io.layout import agl_name

    entry = open_layout(synth_layout).entries("test")[0]
    opts = PredictOptions(tta="flip", precision="fp32", device="cpu", window=32, overlap=8)
    predict_layout(
        [tiny_checkpoint], synth_layout, tmp_path / "layout", options=opts, progress=False
    )
    tif = tmp_path / f"{entry.id}_RGB.tif"
    write_rgb(tif, read_rgb(entry.rgb))
    summary = predict_raster(
        [tiny_checkpoint], tif, entry.gsd, tmp_path / "raster", options=opts, progress=False
    )
    assert len(summary.result.windows) == 9
    assert_files_match(read_agl(tmp_path / "layout" / agl_name(entry.id)), read_agl(summary.agl))
