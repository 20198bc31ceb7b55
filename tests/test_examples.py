"""The scripts in examples/ run, on tiny inputs, so they cannot rot.

Each script is loaded with :mod:`runpy` (not as ``__main__``) and its ``main(argv)``
called in this process, on a synthetic layout of 48 px tiles and a model trained for
two steps.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

import geopose
from geopose.io import GeoInfo, read_agl, read_geo, read_rgb, write_rgb

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, argv: list[str]) -> int:
    """``main(argv)`` of ``examples/{name}``."""
    namespace = runpy.run_path(str(EXAMPLES / name), run_name="example")
    return int(namespace["main"](argv))


def test_every_example_is_tested() -> None:
    tested = {"make_synthetic_data.py", "fine_tune.py", "predict_geotiff.py", "score_submission.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples") / "data"
    args = [str(root), "--size", "48", "--train", "4", "--test", "1", "--cities", "JAX,OMA"]
    assert run_example("make_synthetic_data.py", args) == 0
    return root


@pytest.fixture(scope="module")
def run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fine_tune.py from a new tiny model, two steps."""
    folder = tmp_path_factory.mktemp("examples_run")
    start = geopose.create_model("tiny").save(folder / "start.safetensors")
    args = [str(data), "--weights", str(start), "--out", str(folder / "run")]
    assert run_example("fine_tune.py", [*args, "--steps", "2", "--crop", "32"]) == 0
    return folder / "run"


def test_make_synthetic_data(data: Path) -> None:
    assert len(list((data / "train").glob("*_RGB.j2k"))) == 8
    assert len(list((data / "test_truth").glob("*_AGL.tif"))) == 2


def test_fine_tune(run: Path) -> None:
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["weights"] == str(run.parent / "start.safetensors")
    assert config["train"]["max_steps"] == 2
    assert config["train"]["crop_size"] == 32
    assert (run / "checkpoints" / "last.safetensors").is_file()


def test_predict_geotiff(run: Path, data: Path, tmp_path: Path) -> None:
    scene = tmp_path / "scene.tif"
    crs = rasterio.crs.CRS.from_epsg(32616).to_wkt()
    image = read_rgb(sorted((data / "test").glob("*_RGB.j2k"))[0])
    write_rgb(scene, image, geo=GeoInfo(crs, (0.5, 0.0, 7e5, 0.0, -0.5, 3.7e6)))
    model = run / "checkpoints" / "last.safetensors"
    out = tmp_path / "out"
    assert run_example("predict_geotiff.py", [str(model), str(scene), "--out", str(out)]) == 0
    agl = read_agl(out / "scene_AGL.tif")
    assert agl.shape == image.shape[:2]
    assert np.isfinite(agl).all()
    assert read_geo(out / "scene_AGL.tif").transform == pytest.approx(read_geo(scene).transform)
    assert (out / "scene_VFLOW.json").is_file()
    assert (out / "scene_plot.png").stat().st_size > 1000


def test_score_submission(
    run: Path, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = geopose.load_model(run / "checkpoints" / "last.safetensors")
    for image in sorted((data / "test").glob("*_RGB.j2k")):
        tile = geopose.read_tile(data, image.name.removesuffix("_RGB.j2k"), "test")
        model.predict(image, gsd=tile["gsd"], tta="none").save(tmp_path / "pred")
    capsys.readouterr()
    code = run_example("score_submission.py", [str(tmp_path / "pred"), str(data / "test_truth")])
    assert code == 0
    out = capsys.readouterr().out
    expected = geopose.score(tmp_path / "pred", data / "test_truth").score
    assert f"final score {expected:.4f} over 2 cities" in out
    # no predictions at all: every city scores 0, and the script says so with exit code 1
    assert run_example("score_submission.py", [str(tmp_path), str(data / "test_truth")]) == 1
    assert "scored 0:" in capsys.readouterr().out
