"""Tile panels: the flow arrows follow DESIGN.md §1, maps are drawn at display size."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from geopose.viz.figure import figure_png
from geopose.viz.tiles import (
    DISPLAY_PX,
    TileData,
    arrow_gain,
    display_step,
    grid_arrows,
    tile_figure,
)


def test_arrows_point_down_for_angle_zero_and_right_for_half_pi():
    agl = np.full((8, 8), 2.0, np.float32)
    down = grid_arrows(agl, 1.5, 0.0, 4)
    np.testing.assert_allclose(down.dx, 0.0, atol=1e-6)
    np.testing.assert_allclose(down.dy, 3.0, rtol=1e-6)  # 2 m × 1.5 px/m, +row = down
    right = grid_arrows(agl, 1.5, math.pi / 2, 4)
    np.testing.assert_allclose(right.dx, 3.0, rtol=1e-6)
    np.testing.assert_allclose(right.dy, 0.0, atol=1e-6)


def test_arrows_sample_cell_centres_and_skip_ground_and_nodata():
    rng = np.random.default_rng(1)
    agl = rng.uniform(1, 10, (12, 10)).astype(np.float32)
    agl[2, 2] = np.nan  # a grid point with no data
    agl[6, 6] = 0.0  # a ground grid point
    theta, scale = 2.0, 0.7
    arrows = grid_arrows(agl, scale, theta, 4)
    pts = {(int(y), int(x)) for x, y in zip(arrows.x, arrows.y, strict=True)}
    expected = {(r, c) for r in (2, 6, 10) for c in (2, 6)} - {(2, 2), (6, 6)}
    assert pts == expected
    for x, y, dx, dy in zip(arrows.x, arrows.y, arrows.dx, arrows.dy, strict=True):
        h = float(agl[int(y), int(x)])
        assert dx == pytest.approx(h * scale * math.sin(theta), rel=1e-5)
        assert dy == pytest.approx(h * scale * math.cos(theta), rel=1e-5)


def test_arrow_gain_and_display_step():
    agl = np.full((8, 8), 1.0, np.float32)
    short = grid_arrows(agl, 0.5, 1.0, 4)  # 0.5 px arrows on a 4 px grid
    assert arrow_gain([short], 4) == pytest.approx(round(0.9 * 4 / 0.5, 1))
    long = grid_arrows(agl * 100, 0.5, 1.0, 4)
    assert arrow_gain([long], 4) == 1.0
    assert arrow_gain([], 4) == 1.0
    assert display_step((DISPLAY_PX, 10)) == 1
    assert display_step((DISPLAY_PX + 1, 10)) == 2
    assert display_step((2048, 2048, 3)) == math.ceil(2048 / DISPLAY_PX)


@pytest.mark.parametrize("with_rgb", [True, False])
def test_tile_figure_has_six_panels_and_renders(with_rgb):
    rng = np.random.default_rng(2)
    agl = rng.uniform(0, 20, (48, 40)).astype(np.float32)
    agl[:5] = np.nan
    image = rng.integers(0, 255, (48, 40, 3), dtype=np.uint8) if with_rgb else None
    tile = TileData("X_1", "X", image, agl, agl * 0.9, 1.0, 0.5, 1.1, 0.6, image)
    fig = tile_figure(tile)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 6
    titles = [ax.get_title() for ax in panels]
    assert ("RGB" in titles) == with_rgb
    assert "ground-level rectified (predicted flow)" in titles or not with_rgb
    assert len(panels[4].collections) == 2  # true and predicted arrows
    png = Image.open(io.BytesIO(figure_png(fig)))
    assert png.format == "PNG"
    assert np.asarray(png.convert("L")).std() > 10
