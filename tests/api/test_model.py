"""geopose.load_model / create_model / list_models and Model.predict (geopose.api.model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

import geopose
from agl_compare import assert_file_matches_prediction
from geopose.data.synth import generate_sample
from geopose.errors import DataError, UsageError
from geopose.inference.options import PredictOptions, make_predictor
from geopose.inference.raster import predict_raster
from geopose.io import read_agl, read_geo, read_rgb, read_vflow, write_rgb
from geopose.models import list_presets

FP32 = {"precision": "fp32", "device": "cpu"}


def _tile() -> np.ndarray:
    """A 64 px synthetic RGB tile (uint8)."""
    return generate_sample("OMA", 4, size=64)["image"]


def test_predict_on_an_array_is_the_predictors_tile_prediction(checkpoint: Path) -> None:
    image = _tile()
    model = geopose.load_model(checkpoint)
    result = model.predict(image, gsd=0.4, tta="flip", **FP32)
    reference = make_predictor([checkpoint], PredictOptions(tta="flip", **FP32))
    expected = reference.predict_tiles(image[None], [0.4])[0]
    np.testing.assert_allclose(result.agl, expected.agl, rtol=0, atol=1e-5)
    assert result.agl.dtype == np.float32
    assert result.scale == pytest.approx(expected.scale, rel=1e-6)
    assert result.angle == pytest.approx(expected.angle, abs=1e-6)
    assert result.direction == pytest.approx(expected.direction, abs=1e-6)
    assert result.gsd == 0.4
    assert result.geo is None
    # the GSD is an input of the model: another GSD gives another prediction
    other = model.predict(image, gsd=0.8, tta="flip", **FP32)
    assert not np.allclose(other.agl, result.agl)


def test_predict_on_a_geotiff_reads_its_gsd_and_keeps_its_georeferencing(
    checkpoint: Path, scene: Path, tmp_path: Path
) -> None:
    model = geopose.load_model(checkpoint)
    result = model.predict(scene, tta="none", **FP32)
    assert result.gsd == pytest.approx(0.3)
    assert result.name == "scene"
    from_array = model.predict(read_rgb(scene), gsd=0.3, tta="none", **FP32)
    np.testing.assert_array_equal(result.agl, from_array.agl)

    agl_path, vflow_path = result.save(tmp_path / "sub")
    assert agl_path == tmp_path / "sub" / "scene_AGL.tif"
    assert_file_matches_prediction(read_agl(agl_path), result.agl)
    scale, angle = read_vflow(vflow_path)
    assert scale == pytest.approx(result.scale, rel=1e-6)
    assert angle == pytest.approx(result.angle, abs=1e-6)
    metres = result.to_geotiff(tmp_path / "m.tif", unit="m")
    np.testing.assert_array_equal(read_agl(metres, unit="m"), result.agl)
    for path in (agl_path, metres):
        geo = read_geo(path)
        assert geo.transform == pytest.approx(read_geo(scene).transform)
        assert geo.transform[0] == pytest.approx(0.3)
        assert rasterio.crs.CRS.from_wkt(geo.crs) == rasterio.crs.CRS.from_epsg(32615)
    dx, dy = result.direction
    assert (dx, dy) == pytest.approx((np.sin(result.angle), np.cos(result.angle)))
    np.testing.assert_allclose(result.flow[..., 0], result.agl * result.scale * dx, rtol=1e-6)


def test_windowed_prediction_is_the_command_lines(
    checkpoint: Path, scene: Path, tmp_path: Path
) -> None:
    settings = {"tta": "flip", "window": 64, "overlap": 16, "batch_size": 2, **FP32}
    result = geopose.load_model(checkpoint).predict(scene, **settings)
    summary = predict_raster(
        [checkpoint], scene, None, tmp_path, options=PredictOptions(**settings), progress=False
    )
    assert len(summary.result.windows) == 6
    assert summary.gsd == pytest.approx(0.3)
    assert summary.gsd_from_crs
    assert_file_matches_prediction(read_agl(summary.agl), result.agl)
    assert result.scale == pytest.approx(summary.result.scale, rel=1e-6)
    assert result.angle == pytest.approx(summary.result.angle, abs=1e-6)


def test_without_a_gsd_the_error_says_what_to_give(checkpoint: Path, tmp_path: Path) -> None:
    model = geopose.load_model(checkpoint)
    plain = tmp_path / "plain.png"
    write_rgb(plain, _tile())
    with pytest.raises(DataError, match=r"plain\.png: no GSD: the raster has no CRS.*gsd="):
        model.predict(plain, **FP32)
    with pytest.raises(UsageError, match="gsd: an array carries no georeferencing"):
        model.predict(_tile(), **FP32)
    with pytest.raises(UsageError, match="H×W×3 uint8"):
        model.predict(_tile().astype(np.float32), gsd=0.3, **FP32)
    with pytest.raises(UsageError, match="tta 'd8'"):
        model.predict(_tile(), gsd=0.3, tta="d8", **FP32)


def test_create_save_and_load_round_trip(tmp_path: Path) -> None:
    assert geopose.list_models() == list_presets()
    assert "tiny" in geopose.list_models()
    model = geopose.create_model("tiny", name="mine", decoder={"channels": [32, 24, 16, 8]})
    assert model.name == "mine"
    assert model.spec.decoder.channels == (32, 24, 16, 8)
    assert model.spec.encoder.name == "test_efficientnet"  # merged, not replaced
    assert model.source is None
    path = model.save(tmp_path / "m" / "mine.safetensors")
    loaded = geopose.load_model(path)
    assert loaded.source == path
    assert loaded.spec == model.spec
    image = _tile()
    a = model.predict(image, gsd=0.3, tta="none", **FP32)
    b = loaded.predict(image, gsd=0.3, tta="none", **FP32)
    np.testing.assert_array_equal(a.agl, b.agl)
    with pytest.raises(UsageError, match="unknown field"):
        geopose.create_model("tiny", encoder={"nme": "x"})
    with pytest.raises(UsageError, match="unknown model preset 'nope'"):
        geopose.create_model("nope")


def test_import_geopose_loads_the_api_on_first_use() -> None:
    code = (
        "import sys, geopose\n"
        "print('geopose.api' in sys.modules, 'timm' in sys.modules, 'rasterio' in sys.modules)\n"
        "import geopose.rectification\n"
        "print(geopose.rectify.__module__, 'geopose.api' in sys.modules)\n"
        "print(sorted(set(geopose.__all__) - set(dir(geopose))))\n"
        "try:\n    geopose.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    ).stdout.splitlines()
    assert out[0] == "False False False"
    assert out[1] == "geopose.api.ground True"
    assert out[2] == "[]"
    assert out[3] == "module 'geopose' has no attribute 'nothing'"


def test_the_readme_example_runs(
    checkpoint: Path, scene: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len([line for line in code.splitlines() if line and not line.startswith("import")]) == 3
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(checkpoint.read_bytes())
    (tmp_path / "scene.tif").write_bytes(scene.read_bytes())
    exec(compile(code, "README.md", "exec"), {})
    written = read_agl(tmp_path / "scene_AGL.tif")
    assert written.shape == (96, 160)
    assert read_geo(tmp_path / "scene_AGL.tif").transform == pytest.approx(
        read_geo(scene).transform
    )
