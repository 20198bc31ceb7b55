"""Tests of ``geopose rectify`` on tiny files written with geopose.io."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from geopose.cli import main
from geopose.io import GeoInfo, read_agl, read_geo, read_rgb, write_agl, write_rgb, write_vflow

H, W, LEAN = 40, 48, 4  # a 10 m box leaning 4 px down the image at 0.4 px/m
ROOF = (220, 30, 30)
GEO = GeoInfo(
    crs=rasterio.crs.CRS.from_epsg(32617).to_wkt(),
    transform=(0.3, 0.0, 500000.0, 0.0, -0.3, 3300000.0),
)


@pytest.fixture
def scene(tmp_path: Path) -> dict[str, Path]:
    """A box whose roof is seen LEAN px up from its footprint, walls below it (angle 0)."""
    rng = np.random.default_rng(4)
    image = rng.integers(0, 150, (H, W, 3), dtype=np.uint8)
    agl = np.zeros((H, W), dtype=np.float32)
    image[10:20, 12:30] = ROOF  # footprint rows 14–23 seen 4 rows higher
    agl[10:20, 12:30] = 10.0
    for j in range(1, LEAN):  # wall pixels of the near side: j px ↔ j / 0.4 m
        image[23 - j, 12:30] = (40, 40, 200)
        agl[23 - j, 12:30] = j / 0.4
    paths = {
        "image": tmp_path / "in" / "JAX_007_RGB.tif",
        "agl": tmp_path / "in" / "JAX_007_AGL.tif",
        "vflow": tmp_path / "in" / "JAX_007_VFLOW.json",
        "out": tmp_path / "out",
    }
    write_rgb(paths["image"], image)
    write_agl(paths["agl"], agl, geo=GEO)
    write_vflow(paths["vflow"], 0.4, 0.0)
    return paths


def args(paths: dict[str, Path], *extra: str) -> list[str]:
    return [
        "rectify",
        *("--image", str(paths["image"]), "--agl", str(paths["agl"])),
        *("--vflow", str(paths["vflow"]), "--out", str(paths["out"])),
        *extra,
    ]


def test_round_trip_writes_ground_level_files(scene, tmp_path: Path, capsys) -> None:
    report_path = tmp_path / "report.json"
    assert main(args(scene, "--json", str(report_path), "--fill-color", "0,255,0")) == 0
    out = scene["out"]
    rgb = read_rgb(out / "JAX_007_RGB_rectified.tif")
    agl = read_agl(out / "JAX_007_AGL_rectified.tif")
    occluded = np.asarray(Image.open(out / "JAX_007_occluded.png")) == 255
    filled = np.asarray(Image.open(out / "JAX_007_filled.png")) == 255

    footprint = np.zeros((H, W), dtype=bool)
    footprint[14:24, 12:30] = True
    np.testing.assert_array_equal(np.all(rgb == ROOF, axis=-1), footprint)
    np.testing.assert_array_equal(agl[footprint], 10.0)
    hidden = np.zeros((H, W), dtype=bool)
    hidden[10:14, 12:30] = True  # the 4 rows of ground the roof covered
    np.testing.assert_array_equal(occluded, hidden)
    assert not filled.any()
    assert np.isnan(agl[hidden]).all()
    np.testing.assert_array_equal(rgb[hidden], np.broadcast_to((0, 255, 0), (hidden.sum(), 3)))
    ground = ~hidden & ~footprint
    original = read_rgb(scene["image"])
    np.testing.assert_array_equal(rgb[ground], original[ground])
    np.testing.assert_array_equal(agl[ground], 0.0)

    assert read_geo(out / "JAX_007_AGL_rectified.tif") == read_geo(scene["agl"])
    assert read_geo(out / "JAX_007_RGB_rectified.tif").transform == GEO.transform
    report = json.loads(report_path.read_text())
    assert report["occluded_px"] == hidden.sum()
    assert report["filled_px"] == 0
    assert report["landed_px"] == H * W - hidden.sum()
    assert math.isclose(report["scale_px_per_m"], 0.4)
    stdout = capsys.readouterr().out
    assert f"{hidden.sum()} occluded" in stdout
    assert str(out / "JAX_007_occluded.png") in stdout
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_png_output_and_thin_gaps(scene) -> None:
    assert main(args(scene, "--format", "png", "--max-hole", "4")) == 0
    out = scene["out"]
    rgb = read_rgb(out / "JAX_007_RGB_rectified.png")
    filled = np.asarray(Image.open(out / "JAX_007_filled.png")) == 255
    assert filled[10:14, 12:30].all()  # 4 rows ≤ --max-hole: filled, not occluded
    assert filled.sum() == 4 * 18
    assert not (np.asarray(Image.open(out / "JAX_007_occluded.png")) == 255).any()
    assert rgb.shape == (H, W, 3)


def test_missing_input_names_the_file(scene, capsys) -> None:
    scene["vflow"].unlink()
    assert main(args(scene)) == 1
    err = capsys.readouterr().err
    assert str(scene["vflow"]) in err
    assert "file not found" in err
    assert "Traceback" not in err
    assert not scene["out"].exists()


def test_corrupt_agl_names_the_file(scene, capsys) -> None:
    scene["agl"].write_bytes(b"II*\x00 definitely not a tiff")
    assert main(args(scene)) == 1
    err = capsys.readouterr().err
    assert str(scene["agl"]) in err
    assert err.count("\n") == 1  # one line


def test_shape_mismatch_is_a_data_error(scene, capsys) -> None:
    write_agl(scene["agl"], np.zeros((H, W - 1), dtype=np.float32))
    assert main(args(scene)) == 1
    assert str(scene["agl"]) in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra", [("--max-hole", "-1"), ("--fill-color", "1,2"), ("--fill-color", "0,0,256")]
)
def test_bad_options_are_usage_errors(scene, extra, capsys) -> None:
    assert main(args(scene, *extra)) == 2
    assert extra[0] in capsys.readouterr().err
