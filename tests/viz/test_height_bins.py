"""AGL error by height bin against plain numpy."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from geopose.viz.figure import figure_png
from geopose.viz.height_bins import HeightBinErrors


def _reference(pred, true, edges):
    ok = np.isfinite(pred) & np.isfinite(true)
    p, t = pred[ok], true[ok]
    uppers = [*edges[1:], np.inf]
    rows = []
    for k, (lo, hi) in enumerate(zip(edges, uppers, strict=True)):
        sel = (t >= lo) & (t < hi) if k else (t < hi)  # the first bin takes everything below
        e = p[sel] - t[sel]
        rows.append(
            (
                sel.sum(),
                e.mean() if e.size else np.nan,
                np.sqrt((e**2).mean()) if e.size else np.nan,
            )
        )
    return rows


def test_streaming_matches_numpy_over_two_images():
    rng = np.random.default_rng(0)
    true = rng.uniform(-0.5, 80, (2, 30, 30))
    pred = true + rng.normal(0, 2, true.shape)
    true[0, :4] = np.nan
    pred[1, -3:] = np.nan
    true[1, 0, :6] = [0.0, 1.0, 2.0, 5.0, 10.0, 50.0]  # exactly on edges: upper bin
    edges = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    acc = HeightBinErrors(edges)
    acc.update(pred[0], true[0])
    acc.update(pred[1], true[1])
    ref = _reference(pred.ravel(), true.ravel(), edges)
    np.testing.assert_array_equal(acc.count, [r[0] for r in ref])
    np.testing.assert_allclose(acc.bias(), [r[1] for r in ref], rtol=1e-10)
    np.testing.assert_allclose(acc.rmse(), [r[2] for r in ref], rtol=1e-10)
    ok = np.isfinite(pred) & np.isfinite(true)
    assert acc.count.sum() == ok.sum()
    np.testing.assert_allclose(
        np.nansum(acc.mae() * acc.count), np.abs(pred[ok] - true[ok]).sum(), rtol=1e-10
    )


def test_bin_index_edges_and_empty_bins():
    acc = HeightBinErrors((0.0, 10.0))
    np.testing.assert_array_equal(
        acc.bin_index(np.array([-1.0, 0.0, 9.99, 10.0, 1e4])), [0, 0, 0, 1, 1]
    )
    acc.update(np.array([[1.0, 2.0]]), np.array([[0.0, 1.0]]))
    assert acc.count.tolist() == [2, 0]
    assert np.isnan(acc.rmse()[1])
    assert acc.labels() == ["0–10", "≥10"]


def test_bad_edges_and_shapes_raise():
    with pytest.raises(ValueError, match="increasing"):
        HeightBinErrors((0.0, 5.0, 5.0))
    with pytest.raises(ValueError, match="shape"):
        HeightBinErrors().update(np.zeros((2, 2)), np.zeros((2, 3)))


def test_figure_renders_a_png():
    acc = HeightBinErrors()
    acc.update(np.full((4, 4), 3.0), np.full((4, 4), 2.5))
    img = Image.open(io.BytesIO(figure_png(acc.figure())))
    assert img.format == "PNG"
    assert img.width > 200
    assert img.height > 100
