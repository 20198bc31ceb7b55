"""Affine (rotate / zoom / shift): vector-field consistency against cv2's own rotation
matrix, zoom label rules, AGL moving with the image."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geopose.conventions import angle_difference
from geopose.transforms import Affine

H, W = 40, 48


def cv2_matrix(rotate_deg: float, zoom: float, translate: tuple[float, float]) -> np.ndarray:
    """The expected pixel map, built with OpenCV (positive angle = counter-clockwise)."""
    m = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), rotate_deg, zoom)
    m[:, 2] += translate
    return m


@settings(max_examples=25, deadline=None)
@given(
    rotate=st.floats(-180, 180),
    zoom=st.floats(0.6, 1.8),
    dx=st.floats(-6, 6),
    dy=st.floats(-6, 6),
    seed=st.integers(0, 50),
)
def test_flow_field_consistent(rotate, zoom, dx, dy, seed, tfh):
    sample = tfh.smooth_sample(H, W, seed)
    out = Affine(rotate, zoom, (dx, dy))(sample)
    want = tfh.warp_flow_reference(
        tfh.sample_flow(sample), cv2_matrix(rotate, zoom, (dx, dy)), (H, W)
    )
    err, count = tfh.relative_flow_error(tfh.sample_flow(out), want)
    assert count > 0.2 * H * W
    assert err <= 0.05


def test_rotation_sense_is_counter_clockwise_on_screen(tfh):
    """A flow pointing down (θ = 0), turned +90°, points right (θ = π/2) and the pixels
    turn like np.rot90 (exactly, on a square image)."""
    sample = tfh.smooth_sample(33, 33, 1)
    sample["angle"] = 0.0
    out = Affine(90.0)(sample)
    assert math.isclose(out["angle"], math.pi / 2, abs_tol=1e-12)
    np.testing.assert_array_equal(out["image"], np.rot90(sample["image"]))


@pytest.mark.parametrize("zoom", [0.5, 0.8, 1.25, 2.0])
def test_zoom_label_rules(zoom, tfh):
    sample = tfh.smooth_sample(H, W, 2)
    out = Affine(0.0, zoom)(sample)
    assert math.isclose(out["gsd"], sample["gsd"] / zoom)
    assert math.isclose(out["scale"], sample["scale"] * zoom)
    assert out["angle"] == sample["angle"]
    # AGL values unchanged: the centre pixel maps onto itself (odd-sized square).
    sq = tfh.smooth_sample(41, 41, 3, holes=0)
    assert Affine(17.0, zoom)(sq)["agl"][20, 20] == pytest.approx(sq["agl"][20, 20], abs=1e-4)


@pytest.mark.parametrize(("rotate", "zoom"), [(0, 1.5), (30, 1.0), (-75, 0.7), (180, 1.3)])
def test_agl_moves_with_image(rotate, zoom, tfh):
    sample = tfh.smooth_sample(H, W, 4)
    out = Affine(rotate, zoom, (2.5, -1.5))(sample)
    ok = np.isfinite(out["agl"])
    assert ok.mean() > 0.3
    # AGL is a linear function of RGB: bilinear warps commute with it, up to uint8 rounding.
    diff = np.abs(out["agl"][ok] - tfh.agl_from_image(out["image"])[ok])
    assert diff.max() <= 0.1  # one uint8 level per channel


def test_rotation_labels(tfh):
    sample = tfh.smooth_sample(H, W, 5)
    out = Affine(-40.0)(sample)
    want = sample["angle"] + math.radians(-40.0)
    assert float(angle_difference(out["angle"], want)) < 1e-12
    assert (out["gsd"], out["scale"]) == (sample["gsd"], sample["scale"])


def test_identity_is_exact(tfh):
    sample = tfh.smooth_sample(H, W, 6)
    out = Affine()(sample)
    np.testing.assert_array_equal(out["image"], sample["image"])
    np.testing.assert_array_equal(out["agl"], sample["agl"])


def test_unlabelled_sample_passes(tfh):
    sample = tfh.smooth_sample(H, W, 7, labels=False)
    out = Affine(10, 2.0)(sample)
    assert set(out) == set(sample)
    assert math.isclose(out["gsd"], sample["gsd"] / 2)


@pytest.mark.parametrize("zoom", [0.0, -1.0, float("nan")])
def test_bad_zoom_rejected(zoom):
    with pytest.raises(ValueError, match="zoom"):
        Affine(0.0, zoom)
