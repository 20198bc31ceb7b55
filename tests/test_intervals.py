"""Bootstrap intervals of the official score: the point figures equal the streaming
metric's, and the intervals behave as intervals should."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geopose.intervals import score_with_intervals, tile_stats
from geopose.metrics import GeoposeMetric


def _tiles(rng: np.random.Generator, n: int, noise: float) -> tuple[list, GeoposeMetric]:
    metric = GeoposeMetric()
    stats = []
    for i in range(n):
        city = ("ARG", "JAX")[i % 2]
        true = rng.gamma(1.5, 4.0, size=(16, 16)).astype(np.float32)
        true[0, :3] = np.nan
        pred = (true + rng.normal(0, noise, size=true.shape)).astype(np.float32)
        pred[5, 5] = np.nan  # a no-data prediction drops out of SSE
        ts, ta = rng.uniform(0.3, 2.0), rng.uniform(0, 2 * math.pi)
        ps, pa = ts * rng.uniform(0.8, 1.2), ta + rng.normal(0, 0.3)
        metric.update(city, pred, ps, pa, true, ts, ta)
        stats.append(tile_stats(city, true, ts, ta, pred, ps, pa))
    return stats, metric


def test_point_figures_equal_the_streaming_metric() -> None:
    stats, metric = _tiles(np.random.default_rng(0), 12, 2.0)
    want = metric.compute()
    got = score_with_intervals(stats, resamples=50)
    assert got.score.value == pytest.approx(want.score, rel=1e-9)
    for city, res in want.cities.items():
        assert got.cities[city]["agl_r2"].value == pytest.approx(res.agl_r2, rel=1e-9)
        assert got.cities[city]["vflow_r2"].value == pytest.approx(res.vflow_r2, rel=1e-9)
        assert got.cities[city]["angle_error_deg"].value == pytest.approx(
            res.angle_error_deg, rel=1e-9
        )


def test_interval_contains_the_value_and_narrows_with_more_tiles() -> None:
    few = score_with_intervals(_tiles(np.random.default_rng(1), 8, 4.0)[0], resamples=400)
    many = score_with_intervals(_tiles(np.random.default_rng(1), 128, 4.0)[0], resamples=400)
    for rep in (few, many):
        assert rep.score.low <= rep.score.value <= rep.score.high
    assert (many.score.high - many.score.low) < 0.6 * (few.score.high - few.score.low)


def test_perfect_prediction_has_a_zero_width_interval_at_one() -> None:
    rng = np.random.default_rng(2)
    true = rng.gamma(1.5, 4.0, size=(8, 8))
    stats = [tile_stats("OMA", true, 1.0, 0.5, true, 1.0, 0.5) for _ in range(4)]
    rep = score_with_intervals(stats, resamples=20)
    assert rep.score.value == pytest.approx(1.0, abs=1e-6)
    assert rep.score.high - rep.score.low == pytest.approx(0.0, abs=1e-9)


def test_height_bins_report_the_bias() -> None:
    true = np.full((4, 4), 30.0)
    stats = [tile_stats("ATL", true, 1.0, 0.0, true * 0.8, 1.0, 0.0)]
    rep = score_with_intervals(stats, resamples=10)
    tall = next(b for b in rep.cities["ATL"]["agl_bias_by_height"] if b["bin_m"][0] == 20.0)
    assert tall["bias_m"] == pytest.approx(-6.0)
    assert tall["relative_bias"]["value"] == pytest.approx(-0.2)
