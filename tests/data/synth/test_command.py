"""The ``geopose synth`` command: layout, JSON summary, previews, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geopose.cli import main


def test_synth_writes_a_layout_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "data", tmp_path / "summary.json"
    argv = ["synth", str(out), "--cities", "OMA,ARG", "--train-per-city", "2",
            "--test-per-city", "1", "--size", "40", "--preview", "--json", str(report),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(report.read_text())
    assert summary["train_ids"] == ["OMA_train0000", "OMA_train0001", "ARG_train0000",
                                    "ARG_train0001"]  # fmt: skip
    assert set(summary["mean_agl_m"]) == {"OMA", "ARG"}
    for name in ("geopose_train.csv", "geopose_test.csv", "metadata.csv", "preview/OMA.png"):
        assert (out / name).exists()
    assert "wrote 4 train + 2 test tiles" in capsys.readouterr().out


def test_unknown_city_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", str(tmp_path), "--cities", "PAR"]) == 2
    assert "unknown ['PAR']" in capsys.readouterr().err


def test_bad_count_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["synth", str(tmp_path), "--size", "-3"]) == 2


def test_broken_preset_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cities.yaml"
    bad.write_text("NEW:\n  base: OMA\n  gsd: [1, 0]\n")
    assert main(["synth", str(tmp_path / "o"), "--presets", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err
    assert "low 1.0 > high 0.0" in err


def test_user_preset_city_can_be_generated(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("TOY:\n  base: JAX\n  gsd: [0.5, 0.5]\n")
    out = tmp_path / "o"
    argv = ["synth", str(out), "--presets", str(mine), "--cities", "TOY", "--train-per-city",
            "1", "--test-per-city", "0", "--size", "32", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "TOY_train0000,TOY,0.5," in (out / "metadata.csv").read_text()


def test_export_truth_writes_georeferenced_tiles_and_their_truth(tmp_path: Path) -> None:
    import rasterio

    from geopose.io.catalog import open_layout

    out = tmp_path / "data"
    argv = ["synth", str(out), "--cities", "JAX", "--train-per-city", "1", "--test-per-city",
            "1", "--size", "40", "--export-truth", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    layout = open_layout(out)
    for entry in (layout.entries("train")[0], layout.entries("test_truth")[0]):
        assert entry.rgb.suffix == ".tif"
        with rasterio.open(entry.rgb) as ds:
            assert ds.crs is not None
        for suffix in ("_NDSM.tif", "_VIEW.json", "_BUILDINGS.geojson"):
            assert (out / "truth" / f"{entry.id}{suffix}").exists()
        view = json.loads((out / "truth" / f"{entry.id}_VIEW.json").read_text())
        assert 0 < view["elevation_deg"] <= 90
    assert main(["check", str(out)]) == 0
