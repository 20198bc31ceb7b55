"""Angle/scale scatter data."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from geopose.viz.figure import figure_png
from geopose.viz.scatter import LabelPair, scatter_figure, unwrap_near


@pytest.mark.parametrize(
    ("pred", "true", "expected"),
    [(359.0, 1.0, -1.0), (1.0, 359.0, 361.0), (90.0, 80.0, 90.0), (180.0, 0.0, -180.0)],
)
def test_unwrap_near(pred, true, expected):
    assert unwrap_near(pred, true) == pytest.approx(expected)


def test_scatter_renders_one_point_collection_per_city():
    pairs = [
        LabelPair("A_0", "A", 0.1, 0.2, 1.0, 1.1),
        LabelPair("A_1", "A", 3.0, 2.9, 0.5, 0.4),
        LabelPair("B_0", "B", 6.2, 0.05, 2.0, 2.2),
    ]
    fig = scatter_figure(pairs)
    ax_angle, ax_scale = fig.axes
    assert len(ax_angle.collections) == 2
    # B's prediction 0.05 rad for a truth of 6.2 rad is drawn next to the diagonal
    b_points = ax_angle.collections[1].get_offsets()
    assert b_points[0][1] == pytest.approx(unwrap_near(2.8648, 355.234), abs=0.01)
    assert b_points[0][1] > 355
    scale_b = ax_scale.collections[1].get_offsets()
    assert tuple(scale_b[0]) == pytest.approx((2.0, 2.2))
    assert Image.open(io.BytesIO(figure_png(fig))).format == "PNG"
