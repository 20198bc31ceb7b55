"""Training-curve series from metrics.jsonl records."""

from __future__ import annotations

import io
import math

from PIL import Image

from geopose.viz.curves import (
    curves_figure,
    loss_series,
    scalar_series,
    score_axis_limits,
    validation_series,
)
from geopose.viz.figure import figure_png

RECORDS = [
    {"epoch": 0, "step": 10, "lr": 1e-3, "loss": {"agl": 2.0, "total": 3.0}, "val": None},
    {
        "epoch": 1,
        "step": 20,
        "lr": 5e-4,
        "loss": {"agl": 1.0, "total": math.nan, "scale": 0.5},
        "val": {"score": 0.6, "cities": {"JAX": {"score": 0.7}, "ARG": {"score": 0.5}}},
    },
    {"epoch": 2, "step": 30, "lr": None, "loss": None, "val": {"score": 0.8, "cities": {}}},
]


def test_loss_series_total_first_and_nonfinite_dropped():
    series = loss_series(RECORDS)
    assert list(series) == ["total", "agl", "scale"]
    assert series["total"] == ([10], [3.0])
    assert series["agl"] == ([10, 20], [2.0, 1.0])
    assert series["scale"] == ([20], [0.5])


def test_validation_series_per_city():
    series = validation_series(RECORDS)
    assert series["all"] == ([20, 30], [0.6, 0.8])
    assert series["JAX"] == ([20], [0.7])
    assert series["ARG"] == ([20], [0.5])


def test_scalar_series_skips_missing():
    assert scalar_series(RECORDS, "lr") == ([10, 20], [1e-3, 5e-4])


def test_figure_or_none():
    assert curves_figure([{"step": 1}]) is None
    fig = curves_figure(RECORDS)
    assert fig is not None
    assert len(fig.axes) == 3
    assert Image.open(io.BytesIO(figure_png(fig))).format == "PNG"


def test_score_axis_is_cut_at_minus_one_so_early_outliers_do_not_flatten_the_curve():
    series = {"all": ([1, 2, 3], [-300.0, 0.2, 0.6]), "ARG": ([3], [0.7])}
    limits = score_axis_limits(series)
    assert limits is not None
    (low, high), cut = limits
    assert cut
    assert -1.2 < low < -1.0
    assert 0.7 < high < 0.9
    single = score_axis_limits({"all": ([1], [0.3])})
    assert single is not None
    (low, high), cut = single
    assert not cut
    assert low < 0.3 < high
    assert score_axis_limits({}) is None
