"""The streaming pass: official scores against plain numpy, tiles, problems."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geopose.viz.evaluation import evaluate_predictions
from geopose.viz.sources import truth_from_folder

from .conftest import reference_scores


def test_scores_match_a_numpy_reference(case):
    truth = truth_from_folder(case.truth)
    ev = evaluate_predictions(case.pred, truth, tile_ids={"AAA_1"}, progress=False)
    ref = reference_scores(case.labels)
    assert set(ev.result.cities) == {"AAA", "BBB"}
    for city, score in ref.items():
        assert ev.result.cities[city].score == pytest.approx(score, abs=1e-6)
    assert ev.result.score == pytest.approx(np.mean(list(ref.values())), abs=1e-6)
    assert ev.problems == []
    assert [t[0] for t in ev.tiles] == ["AAA_1"]
    assert ev.tiles[0][1].startswith(b"\x89PNG")
    pair = {p.id: p for p in ev.pairs}["BBB_1"]
    lab = case.labels["BBB_1"]
    assert (pair.scale_true, pair.scale_pred) == pytest.approx((lab.scale_true, lab.scale_pred))
    assert (pair.angle_true, pair.angle_pred) == pytest.approx((lab.angle_true, lab.angle_pred))
    valid = sum(int(np.isfinite(lab.agl_true).sum()) for lab in case.labels.values())
    assert ev.height_bins.count.sum() == valid


def test_missing_prediction_fails_its_city(case):
    (case.pred / "BBB_0_AGL.tif").unlink()
    ev = evaluate_predictions(case.pred, truth_from_folder(case.truth), progress=False)
    assert ev.result.cities["BBB"].score == 0.0
    assert ev.result.cities["AAA"].score > 0.5
    assert len(ev.problems) == 1
    assert "BBB_0_AGL.tif" in ev.problems[0]
    assert {p.id for p in ev.pairs} == set(case.labels) - {"BBB_0"}


def test_nan_angle_is_a_problem_not_a_point(case):
    (case.pred / "AAA_0_VFLOW.json").write_text('{"scale": 0.01, "angle": NaN}')
    ev = evaluate_predictions(case.pred, truth_from_folder(case.truth), progress=False)
    assert ev.result.cities["AAA"].score == 0.0
    assert any("AAA_0" in p for p in ev.problems)
    assert all(math.isfinite(p.angle_pred) for p in ev.pairs)
