"""geopose.score (geopose.api.evaluation): the official metric, as ``geopose evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import geopose
from geopose.cli import main
from geopose.errors import DataError
from geopose.io import open_layout


@pytest.fixture(scope="module")
def predictions(checkpoint: Path, layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test split predicted with the API and saved in the submission format."""
    out = tmp_path_factory.mktemp("api_pred")
    model = geopose.load_model(checkpoint)
    for entry in open_layout(layout).entries("test"):
        result = model.predict(entry.rgb, gsd=entry.gsd, tta="none", precision="fp32")
        result.save(out)
    return out


def test_score_is_the_evaluate_verbs(predictions: Path, layout: Path, tmp_path: Path) -> None:
    truth = layout / "test_truth"
    result = geopose.score(predictions, truth)
    assert set(result.cities) == {"JAX", "OMA"}
    assert all(c.images == 2 for c in result.cities.values())
    assert result.failed == []
    report = tmp_path / "e.json"
    assert main(["evaluate", "--pred", str(predictions), "--truth", str(truth), "--json",
                 str(report), "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    assert json.loads(report.read_text()) == result.as_dict()


def test_a_missing_prediction_scores_its_city_zero(
    predictions: Path, layout: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for path in predictions.iterdir():
        if not path.name.startswith("OMA_"):
            (partial / path.name).write_bytes(path.read_bytes())
    result = geopose.score(partial, layout / "test_truth")
    assert result.cities["OMA"].score == 0
    assert len(result.failed) == 2
    assert (
        result.cities["JAX"].score
        == geopose.score(predictions, layout / "test_truth").cities["JAX"].score
    )


def test_an_unreadable_truth_file_is_an_error(
    predictions: Path, layout: Path, tmp_path: Path
) -> None:
    truth = tmp_path / "truth"
    truth.mkdir()
    for path in (layout / "test_truth").iterdir():
        (truth / path.name).write_bytes(path.read_bytes())
    victim = sorted(truth.glob("*_AGL.tif"))[0]
    victim.write_bytes(b"not a tiff")
    with pytest.raises(DataError, match=rf"{victim.name}"):
        geopose.score(predictions, truth)
