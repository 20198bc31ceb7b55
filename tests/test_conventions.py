"""Property tests for every convention of DESIGN.md §1."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from geopose import conventions as cv

angles = st.floats(-20.0, 20.0, allow_nan=False)
scales = st.floats(0.01, 5.0)
agl_values = st.floats(0.0, 655.34, allow_nan=False, width=32)


@given(arrays(np.uint16, st.tuples(st.integers(1, 8), st.integers(1, 8))))
def test_agl_cm_round_trip_is_exact(raw: np.ndarray) -> None:
    metres = cv.agl_cm_to_m(raw)
    assert metres.dtype == np.float32
    assert np.array_equal(np.isnan(metres), raw == cv.AGL_NODATA)
    back = cv.agl_m_to_cm(metres)
    assert np.array_equal(back, raw)


@given(arrays(np.float32, (5, 7), elements=st.floats(-10, 1000, width=32) | st.just(np.nan)))
def test_agl_m_to_cm_rounds_clips_and_marks_nodata(agl: np.ndarray) -> None:
    cm = cv.agl_m_to_cm(agl)
    assert cm.dtype == np.uint16
    nan = np.isnan(agl)
    assert np.all(cm[nan] == cv.AGL_NODATA)
    expected = np.clip(np.rint(agl[~nan].astype(np.float64) * 100), 0, 65534)
    assert np.array_equal(cm[~nan], expected.astype(np.uint16))
    # A predicted pixel never becomes no-data by clipping.
    assert np.all(cm[~nan] <= cv.AGL_MAX_CM)


def test_nodata_sentinel_does_not_fit_float16() -> None:
    # DESIGN.md: the sentinel exists only in files, because float16 cannot hold it.
    assert float(np.finfo(np.float16).max) < cv.AGL_NODATA


@given(scales)
def test_scale_file_units_round_trip(scale: float) -> None:
    on_disk = cv.scale_to_file(scale)
    assert on_disk == pytest.approx(scale / 100.0)
    assert cv.scale_from_file(on_disk) == pytest.approx(scale, rel=1e-15)


@given(st.floats(math.radians(54), math.radians(86)), st.floats(0.3, 0.6))
def test_scale_from_elevation_is_lean_per_metre_in_pixels(elev: float, gsd: float) -> None:
    scale = cv.scale_from_elevation(elev, gsd)
    # A 10 m point leans 10 / tan(elev) metres on the ground = that many / gsd pixels.
    assert 10 * scale == pytest.approx(10 / math.tan(elev) / gsd)
    assert cv.elevation_from_scale(scale, gsd) == pytest.approx(elev)


def test_scale_range_matches_the_design() -> None:
    # DESIGN.md §1: satellite elevation 54-86° at GSD 0.31-0.59 m gives 0.07-0.73 m of lean
    # per metre of height, 0.12-2.4 px/m.
    lo = cv.scale_from_elevation(math.radians(86), 0.59)
    hi = cv.scale_from_elevation(math.radians(54), 0.31)
    assert lo == pytest.approx(0.12, abs=0.005)
    assert hi == pytest.approx(2.35, abs=0.05)


@given(angles)
def test_wrap_angle_range_and_equivalence(theta: float) -> None:
    w = cv.wrap_angle(theta)
    assert 0.0 <= w < cv.TWO_PI
    assert math.sin(w) == pytest.approx(math.sin(theta), abs=1e-9)
    assert math.cos(w) == pytest.approx(math.cos(theta), abs=1e-9)


def test_wrap_angle_tiny_negative_stays_below_two_pi() -> None:
    assert cv.wrap_angle(-1e-18) < cv.TWO_PI
    assert np.all(cv.wrap_angle(np.array([-1e-18, 0.0, cv.TWO_PI])) < cv.TWO_PI)


def test_direction_convention_fixed_points() -> None:
    # θ = 0 points down the image (+row), θ = π/2 points right (+column).
    assert np.allclose(cv.angle_to_direction(0.0), [0.0, 1.0])
    assert np.allclose(cv.angle_to_direction(math.pi / 2), [1.0, 0.0])
    assert cv.direction_to_angle(0.0, 1.0) == 0.0
    assert cv.direction_to_angle(1.0, 0.0) == pytest.approx(math.pi / 2)
    assert cv.direction_to_angle(-1.0, 0.0) == pytest.approx(3 * math.pi / 2)


@given(angles, st.floats(0.01, 100))
def test_direction_angle_round_trip(theta: float, length: float) -> None:
    dx, dy = cv.angle_to_direction(theta) * length
    back = cv.direction_to_angle(dx, dy)
    assert float(cv.angle_difference(back, theta)) < 1e-9


@given(angles, angles)
def test_angle_difference_is_symmetric_and_bounded(a: float, b: float) -> None:
    d = float(cv.angle_difference(a, b))
    assert 0 <= d <= math.pi + 1e-12
    assert d == pytest.approx(float(cv.angle_difference(b, a)), abs=1e-12)
    assert d == pytest.approx(float(cv.angle_difference(a + 2 * math.pi, b)), abs=1e-9)


@given(arrays(np.float32, (4, 6), elements=st.floats(0, 200, width=32)), scales, angles)
def test_flow_field_is_the_baselines_get_vflow(agl: np.ndarray, scale: float, theta: float) -> None:
    v = cv.flow_field(agl, scale, theta)
    mag = agl.astype(np.float64) * scale
    # Official baseline: vflow[..., 0] = mag * sin(angle), vflow[..., 1] = mag * cos(angle).
    assert np.allclose(v[..., 0], mag * math.sin(theta), rtol=1e-5, atol=1e-4)
    assert np.allclose(v[..., 1], mag * math.cos(theta), rtol=1e-5, atol=1e-4)
    assert np.allclose(
        np.hypot(v[..., 0], v[..., 1]), cv.magnitude(agl, scale), rtol=1e-5, atol=1e-4
    )


def test_flow_maps_roof_to_footprint() -> None:
    # A point of height h with footprint f is imaged at f - h*scale*d; adding v returns f.
    scale, theta, h = 1.3, 0.7, 12.0
    footprint = np.array([40.0, 50.0])
    d = cv.angle_to_direction(theta)
    imaged = footprint - h * scale * d
    v = cv.flow_field(np.array([[h]], np.float32), scale, theta)[0, 0]
    assert np.allclose(imaged + v, footprint, atol=1e-4)


def _field(theta: float, size: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A non-symmetric AGL map and its flow field (H×W×2, (dx, dy))."""
    agl = np.arange(size * (size + 1), dtype=np.float32).reshape(size, size + 1)
    return agl, cv.flow_field(agl, 0.8, theta)


def _rot90_field(v: np.ndarray, k: int) -> np.ndarray:
    """Rotate a vector field as an image, independently of conventions.py.

    np.rot90 (k=1) sends the pixel at (row r, col c) of an H×W image to
    (W-1-c, r): a displacement (dx, dy) becomes (dy, -dx).
    """
    out = v
    for _ in range(k % 4):
        moved = np.rot90(out, 1, axes=(0, 1))
        out = np.stack([moved[..., 1], -moved[..., 0]], -1)
    return out


@given(angles, st.integers(-3, 7))
def test_rot90_rule_matches_moved_vector_field(theta: float, k: int) -> None:
    agl, v = _field(theta)
    expected = _rot90_field(v, k)
    recomputed = cv.flow_field(np.rot90(agl, k), 0.8, cv.angle_after_rot90(theta, k))
    assert np.allclose(recomputed, expected, atol=1e-3)


@given(angles)
def test_transpose_rule_matches_moved_vector_field(theta: float) -> None:
    agl, v = _field(theta)
    moved = v.transpose(1, 0, 2)
    expected = np.stack([moved[..., 1], moved[..., 0]], -1)
    recomputed = cv.flow_field(agl.T, 0.8, cv.angle_after_transpose(theta))
    assert np.allclose(recomputed, expected, atol=1e-3)


@given(angles)
def test_flip_rules_match_moved_vector_field(theta: float) -> None:
    agl, v = _field(theta)
    h = v[:, ::-1]
    expected_h = np.stack([-h[..., 0], h[..., 1]], -1)
    assert np.allclose(
        cv.flow_field(agl[:, ::-1], 0.8, cv.angle_after_hflip(theta)), expected_h, atol=1e-3
    )
    f = v[::-1]
    expected_v = np.stack([f[..., 0], -f[..., 1]], -1)
    assert np.allclose(
        cv.flow_field(agl[::-1], 0.8, cv.angle_after_vflip(theta)), expected_v, atol=1e-3
    )


@given(angles, st.floats(-math.pi, math.pi))
def test_rotation_rule_matches_rotated_vector(theta: float, alpha: float) -> None:
    # Counter-clockwise on screen with y down: (x, y) -> (x cos a + y sin a, -x sin a + y cos a).
    dx, dy = cv.angle_to_direction(theta)
    rx = dx * math.cos(alpha) + dy * math.sin(alpha)
    ry = -dx * math.sin(alpha) + dy * math.cos(alpha)
    assert np.allclose(cv.angle_to_direction(cv.angle_after_rotation(theta, alpha)), [rx, ry])


def test_rotation_by_quarter_turn_equals_rot90() -> None:
    for theta in np.linspace(0, 6, 13):
        assert cv.angle_after_rotation(theta, math.pi / 2) == pytest.approx(
            cv.angle_after_rot90(theta, 1)
        )


@given(st.floats(0.3, 0.6), scales, st.floats(0.25, 4.0))
def test_zoom_rule(gsd: float, scale: float, zoom: float) -> None:
    gsd2, scale2 = cv.labels_after_zoom(gsd, scale, zoom)
    # Zooming in by s: each pixel covers 1/s of the ground; magnitudes grow by s.
    assert gsd2 == pytest.approx(gsd / zoom)
    assert scale2 == pytest.approx(scale * zoom)
    # The physical lean per metre of height (scale * gsd = cot(elevation)) is unchanged.
    assert scale2 * gsd2 == pytest.approx(scale * gsd)


def test_zoom_rejects_non_positive() -> None:
    with pytest.raises(ValueError, match="zoom"):
        cv.labels_after_zoom(0.3, 1.0, 0.0)


@given(arrays(np.float32, (3, 4), elements=st.floats(0, 100, width=32) | st.just(np.nan)))
def test_fill_and_apply_nodata_round_trip(agl: np.ndarray) -> None:
    filled, valid = cv.fill_nodata(agl)
    assert not np.isnan(filled).any()
    assert np.array_equal(valid, ~np.isnan(agl))
    assert np.all(filled[~valid] == 0)
    back = cv.apply_nodata(filled, valid)
    assert np.array_equal(np.isnan(back), np.isnan(agl))
    assert np.array_equal(back[valid], agl[valid])
    assert np.array_equal(cv.valid_mask(agl), valid)


def test_the_three_forms_of_angle_to_direction_agree() -> None:
    theta = np.array([0.0, 0.3, math.pi / 2, 2.5, 5.9])
    scalars = np.stack([cv.angle_to_direction(float(t)) for t in theta])
    tensor = cv.angle_to_direction_torch(torch.from_numpy(theta), dim=1).numpy()
    np.testing.assert_allclose(cv.angle_to_direction(theta), scalars, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tensor, scalars, rtol=0, atol=1e-15)
    assert scalars[1, 0] == math.sin(0.3)  # the scalar form is math's, bit for bit
    assert scalars[1, 1] == math.cos(0.3)
    assert cv.angle_to_direction_torch(torch.zeros(3)).shape == (3, 2)
