"""The official scorer over files, called as a library (``geopose evaluate`` and the demo
are its callers; tests/commands/test_evaluate.py checks the numbers against a reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geopose.errors import UsageError
from geopose.io import write_prediction
from geopose.scoring import evaluate_files, find_tasks, format_table, score_image


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    for image_id in ("JAX_1", "JAX_2", "OMA_1"):
        agl = (rng.random((8, 8)) * 20).astype(np.float32)
        write_prediction(truth, image_id, agl, 1.5, 0.4)
        write_prediction(pred, image_id, agl + 0.5, 1.4, 0.5)
    return truth, pred


def test_a_perfect_prediction_scores_one_and_tasks_follow_the_truth(tmp_path: Path) -> None:
    truth, _ = _folders(tmp_path)
    tasks = find_tasks(truth, truth, None)
    assert [(t.image_id, t.city) for t in tasks] == [
        ("JAX_1", "JAX"),
        ("JAX_2", "JAX"),
        ("OMA_1", "OMA"),
    ]
    metric, problems = evaluate_files(tasks, workers=1, progress=False)
    result = metric.compute()
    assert problems == []
    assert result.score == pytest.approx(1.0, abs=1e-6)
    assert "final score 1.0000" in format_table(result)


def test_a_missing_prediction_fails_its_city_and_names_both_files(tmp_path: Path) -> None:
    truth, pred = _folders(tmp_path)
    (pred / "OMA_1_AGL.tif").unlink()
    (pred / "OMA_1_VFLOW.json").unlink()
    (task,) = [t for t in find_tasks(pred, truth, None) if t.image_id == "OMA_1"]
    _, truth_problem = score_image(task)
    assert truth_problem is None
    metric, _ = evaluate_files(find_tasks(pred, truth, None), workers=1, progress=False)
    oma = metric.compute().cities["OMA"]
    assert oma.score == 0.0
    assert "OMA_1_AGL.tif" in oma.failed[0]
    assert "OMA_1_VFLOW.json" in oma.failed[0]
    assert metric.compute().cities["JAX"].score > 0.5


def test_no_truth_files_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no \*_VFLOW\.json truth files"):
        find_tasks(tmp_path, tmp_path, None)


def test_intervals_over_files_agree_with_the_official_score_and_bracket_it(
    tmp_path: Path,
) -> None:
    """The point estimate of the file-based interval is the official score itself."""
    from geopose.errors import DataError
    from geopose.scoring import score_files_with_intervals

    truth, pred = _folders(tmp_path)
    tasks = find_tasks(pred, truth, None)
    official = evaluate_files(tasks, workers=1, progress=False)[0].compute()
    report = score_files_with_intervals(tasks, resamples=200)
    assert report.score.value == pytest.approx(official.score, abs=1e-6)
    assert report.agl_r2.value == pytest.approx(official.agl_r2, abs=1e-6)
    assert report.score.low <= report.score.value <= report.score.high
    assert report.tiles == 3
    (pred / "OMA_1_VFLOW.json").unlink()
    with pytest.raises(DataError, match="OMA_1"):
        score_files_with_intervals(tasks, resamples=10)
