"""Bootstrap intervals of the official score: the point figures equal the streaming
metric's, and the intervals behave as intervals should."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geopose.intervals import difference, mean_over_models, score_with_intervals, tile_stats
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


def _models(seed: int, n: int, noises: tuple[float, ...]) -> list[list]:
    """Models that predict the same truth with different noise (same tiles)."""
    rng = np.random.default_rng(seed)
    truth = []
    for i in range(n):
        t = rng.gamma(1.5, 4.0, size=(16, 16)).astype(np.float32)
        truth.append((("ARG", "JAX")[i % 2], t, rng.uniform(0.3, 2.0), rng.uniform(0, 6.28)))
    common = [rng.normal(0, 1, size=(16, 16)) for _ in range(n)]
    models = []
    for k, noise in enumerate(noises):
        own = np.random.default_rng(100 + k)
        tiles = []
        for (city, t, s, a), c in zip(truth, common, strict=True):
            # Every model shares the tile's hard part (common) and adds its own noise.
            pred = (t + noise * (c + 0.2 * own.normal(0, 1, size=t.shape))).astype(np.float32)
            tiles.append(tile_stats(city, t, s, a, pred, s * 1.1, a + 0.2))
        models.append(tiles)
    return models


def test_mean_over_one_model_is_the_score_with_its_interval() -> None:
    (model,) = _models(0, 16, (3.0,))
    one = mean_over_models([model], resamples=300, seed=4)
    ref = score_with_intervals(model, resamples=300, seed=4)
    for name, want in (("score", ref.score), ("agl_r2", ref.agl_r2), ("vflow_r2", ref.vflow_r2)):
        assert one[name].value == pytest.approx(want.value, rel=1e-12)
        assert one[name].low == pytest.approx(want.low, rel=1e-12)
        assert one[name].high == pytest.approx(want.high, rel=1e-12)


def test_mean_over_models_averages_their_scores() -> None:
    a, b = _models(1, 12, (2.0, 5.0))
    both = mean_over_models([a, b], resamples=100)
    sa, sb = (score_with_intervals(m, resamples=10).score.value for m in (a, b))
    assert both["score"].value == pytest.approx((sa + sb) / 2, rel=1e-12)
    assert both["score"].low <= both["score"].value <= both["score"].high


def test_difference_is_paired_over_the_same_tiles() -> None:
    a, b = _models(2, 24, (2.0, 2.5))
    same = difference([a], [a], resamples=200)
    assert same["score"].value == 0.0
    assert same["score"].low == same["score"].high == 0.0
    paired = difference([a], [b], resamples=400)
    unpaired = difference([a], [b], paired=False, resamples=400)
    want = (
        score_with_intervals(a, resamples=10).score.value
        - score_with_intervals(b, resamples=10).score.value
    )
    assert paired["score"].value == pytest.approx(want, rel=1e-12)
    assert unpaired["score"].value == pytest.approx(want, rel=1e-12)
    assert paired["score"].value > 0  # less noise scores higher
    # The models share each tile's difficulty: pairing cancels it.
    width = {k: d["score"].high - d["score"].low for k, d in (("p", paired), ("u", unpaired))}
    assert width["p"] < 0.5 * width["u"]
    assert paired["score"].low > 0


def test_difference_refuses_models_scored_on_other_tiles() -> None:
    a, _ = _models(3, 8, (2.0, 2.0))
    (other,) = _models(4, 8, (2.0,))
    with pytest.raises(ValueError, match="differs"):
        difference([a], [other])
    with pytest.raises(ValueError, match="tiles"):
        mean_over_models([a, a[:4]])
    # Unpaired, the two sides may hold different tiles.
    out = difference([a], [other], paired=False, resamples=50)
    assert out["score"].low <= out["score"].value <= out["score"].high
