"""Property tests of the ray rule AGL(p) = max{z ≥ 0 : H(p + z·s·d) ≥ z}.

Tolerance: rays are traced on digital lines (rows shifted by rint(r·tan φ) columns in
the quarter-turn-reduced frame), which stay within one pixel of the exact ray, so the
general-angle checks look up the height field in the 3×3 neighbourhood of the exact
footprint. Along the axis directions (and 45°) the digital lines are exact and so are the
checks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from geopose.data.synth.raytrace import render_agl, shadow_height, trace


def boxes(size: int, n: int, seed: int, hmax: float = 20.0) -> np.ndarray:
    """Random flat-roofed boxes (some stacked) on ground 0, heights in metres."""
    rng = np.random.default_rng(seed)
    h = np.zeros((size, size), np.float32)
    for _ in range(n):
        y, x = rng.integers(0, size - 4, 2)
        dy, dx = rng.integers(2, size // 4, 2)
        h[y : y + dy, x : x + dx] = max(h[y : y + dy, x : x + dx].max(), rng.uniform(2, hmax))
    return h


def march(height: np.ndarray, scale: float, axis_k: int, step: float = 0.004) -> np.ndarray:
    """Brute-force ray march for θ = axis_k·π/2, nearest-cell lookup (reference)."""
    dx, dy = round(math.sin(axis_k * math.pi / 2)), round(math.cos(axis_k * math.pi / 2))
    rows, cols = height.shape
    r, c = np.mgrid[0:rows, 0:cols]
    best = np.zeros(height.shape)
    for z in np.arange(step, float(height.max()) + step, step):
        fr = np.floor(r + z * scale * dy + 0.5).astype(int)
        fc = np.floor(c + z * scale * dx + 0.5).astype(int)
        inside = (fr >= 0) & (fr < rows) & (fc >= 0) & (fc < cols)
        hz = np.where(inside, height[np.clip(fr, 0, rows - 1), np.clip(fc, 0, cols - 1)], 0)
        best = np.where(hz >= z, z, best)
    return best


def test_single_box_straight_down() -> None:
    h = np.zeros((30, 8), np.float32)
    h[10:15, 2:6] = 4.0  # footprint rows 10..14, 4 m high
    agl = render_agl(h, 2.0, 0.0)  # lean 8 px down: roof appears at rows 2..6
    expected = np.zeros(30)
    expected[2:7] = 4.0  # roof cells 10..14 imaged 8 rows up
    # facade below: pixel row y sees the +d wall at row 14.5, height (14.5 − y)/2
    for y in range(7, 15):
        expected[y] = (14.5 - y) / 2.0
    np.testing.assert_allclose(agl[:, 3], expected, atol=1e-6)
    np.testing.assert_array_equal(agl[:, 0], 0)


@pytest.mark.parametrize("axis_k", [0, 1, 2, 3])
def test_matches_brute_force_march_on_axes(axis_k: int) -> None:
    h = boxes(40, 12, seed=axis_k)
    agl = render_agl(h, 0.8, axis_k * math.pi / 2)
    np.testing.assert_allclose(agl, march(h, 0.8, axis_k), atol=0.005)


@pytest.mark.parametrize("seed", range(4))
def test_ray_rule_holds_at_any_angle(seed: int, ray_rule) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(100 + seed)
    h = boxes(64, 15, seed=seed)
    scale, theta = rng.uniform(0.3, 2.0), rng.uniform(0, 2 * math.pi)
    ray_rule(h, render_agl(h, scale, theta), scale, theta)


@pytest.mark.parametrize("theta", [0.0, math.pi / 4, 0.3, 2.0, 3.5, 5.9])
def test_agl_never_drops_faster_than_one_over_scale_along_d(theta: float) -> None:
    h = boxes(64, 15, seed=7)
    scale = 1.3
    agl = render_agl(h, scale, theta)
    # Work in the frame where d points down the rows: rotate by the quarter turns.
    k = math.floor((theta + math.pi / 4) / (math.pi / 2))
    phi = theta - k * math.pi / 2
    a = np.rot90(agl, -k)
    offsets = np.rint(np.arange(64) * math.tan(phi)).astype(int)  # the digital lines
    for t in (1, 2, 5):
        for r in range(64 - t):
            c = np.arange(64)
            c2 = c + offsets[r + t] - offsets[r]
            ok = (c2 >= 0) & (c2 < 64)
            steps_px = t / math.cos(phi)  # t rows along d are t / cos φ pixels
            drop = a[r, c[ok]] - a[r + t, c2[ok]]
            assert np.all(drop <= steps_px / scale + 1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_flat_roof_pixels_have_their_footprint_at_p_plus_h_s_d(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h = np.zeros((96, 96), np.float32)
    heights = [6.0, 11.0, 17.0]
    for i, hh in enumerate(heights):
        y0, x0 = 30 + 10 * i, 10 + 28 * i
        h[y0 : y0 + 14, x0 : x0 + 16] = hh
    scale, theta = rng.uniform(0.5, 1.5), rng.uniform(0, 2 * math.pi)
    agl = render_agl(h, scale, theta)
    dx, dy = math.sin(theta), math.cos(theta)
    hi = ndimage.maximum_filter(h, 3, mode="constant")
    lo = ndimage.minimum_filter(h, 3, mode="constant")
    for hh in heights:
        rr, cc = np.nonzero(np.abs(agl - hh) < 1e-5)
        assert rr.size > 50
        fr = np.rint(rr + hh * scale * dy).astype(int)
        fc = np.rint(cc + hh * scale * dx).astype(int)
        assert np.all(hi[fr, fc] == hh) or np.all(lo[fr, fc] <= hh <= hi[fr, fc])
        exact = h[fr, fc] == hh
        assert exact.mean() > 0.9
        # The roof appears displaced by −agl·scale·d from its footprint: mag = agl·scale.
        foot_r, foot_c = np.nonzero(h == hh)
        shift = np.array([rr.mean() - foot_r.mean(), cc.mean() - foot_c.mean()])
        # roof pixels can be partly hidden by taller neighbours, hence a pixel of slack
        np.testing.assert_allclose(shift, [-hh * scale * dy, -hh * scale * dx], atol=1.0)


@pytest.mark.parametrize("theta", [0.2, 1.1, 2.9, 4.0, 5.5])
def test_rot90_of_heights_at_theta_plus_quarter_gives_rot90_of_agl(theta: float) -> None:
    h = boxes(48, 10, seed=3)
    agl = render_agl(h, 1.1, theta)
    for m in (1, 2, 3):
        turned = render_agl(np.rot90(h, m), 1.1, theta + m * math.pi / 2)
        np.testing.assert_array_equal(turned, np.rot90(agl, m))


def test_trace_footprints_point_at_the_visible_surface() -> None:
    h = boxes(64, 15, seed=11)
    agl, foot = trace(h, 0.9, 2.4)
    top = h.ravel()[foot]
    assert np.all(top >= agl - 1e-5)  # the footprint cell stands at least as high
    ground = agl == 0
    np.testing.assert_array_equal(foot[ground], np.arange(h.size).reshape(h.shape)[ground])


def test_nadir_view_shows_the_height_field() -> None:
    h = boxes(32, 5, seed=1)
    np.testing.assert_array_equal(render_agl(h, 0.0, 1.0), h)


def test_shadow_length_is_height_over_tan_elevation() -> None:
    h = np.zeros((60, 20), np.float32)
    h[40:45, 5:15] = 10.0  # 10 m box; sun towards +rows (azimuth 0), 45°, 0.5 m/px
    shade = shadow_height(h, 0.5, 0.0, math.pi / 4)
    shadowed = shade[:, 10] > h[:, 10] + 1e-6
    rows = np.nonzero(shadowed)[0]
    # ground shadow reaches 10 m / tan 45° = 10 m = 20 px before the box (rows 20..39)
    assert rows.min() == 20
    assert rows.max() == 39
    assert not np.any(shade[:, 0] > 1e-6)  # beside the box: lit


def test_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="scale"):
        render_agl(np.zeros((4, 4)), -1.0, 0.0)
    with pytest.raises(ValueError, match="H×W"):
        render_agl(np.zeros((4, 4, 3)), 1.0, 0.0)
