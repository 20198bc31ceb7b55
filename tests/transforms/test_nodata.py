"""No-data rules of the warps: never mix valid and no-data, outside becomes no-data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from geopose.transforms import Affine, Chain, Crop, Resize, Rot90

H, W = 32, 40


def _constant_sample(value: float = 7.25) -> dict:
    agl = np.full((H, W), value, dtype=np.float32)
    agl[5:8, 9:11] = np.nan
    agl[20, 30] = np.nan
    image = np.full((H, W, 3), 200, dtype=np.uint8)
    return {"image": image, "agl": agl, "gsd": 0.5, "scale": 1.0, "angle": 1.0}


@pytest.mark.parametrize(
    "transform",
    [
        Affine(33, 1.3, (3.2, -2.7)),
        Affine(-120, 0.6),
        Crop(-4, 5, 30, 50),
        Resize(16, 20),
        Resize(64, 80),
        Chain([Rot90(1), Affine(10, 1.7), Crop(2, 3, 20, 20)]),
    ],
    ids=repr,
)
def test_valid_values_never_mix_with_nodata_or_fill(transform):
    out = transform(_constant_sample())
    ok = np.isfinite(out["agl"])
    assert ok.any()
    np.testing.assert_allclose(out["agl"][ok], 7.25, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("rotate", "zoom", "shift"), [(0, 1, (0.5, 0.25)), (25, 1.4, (1, 2)), (-63, 0.8, (0, 0))]
)
def test_nodata_footprint_of_one_pixel(rotate, zoom, shift):
    """Output is no-data where the no-data pixel has a clear bilinear weight, valid where
    it has none (and the source position is inside the source)."""
    r0, c0 = 15, 19
    agl = np.full((H, W), 3.0, dtype=np.float32)
    agl[r0, c0] = np.nan
    sample = {"image": np.zeros((H, W, 3), np.uint8), "agl": agl, "gsd": 0.5}
    t = Affine(rotate, zoom, shift)
    out = t(sample)["agl"]
    inv = np.linalg.inv(t.plan((H, W)).matrix)
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    sx = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
    sy = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
    dist = np.maximum(np.abs(sx - c0), np.abs(sy - r0))
    inside = (sx >= 0) & (sy >= 0) & (sx <= W - 1) & (sy <= H - 1)
    must_be_nan = dist < 1 - 1 / 16
    must_be_valid = (dist >= 1 + 1 / 16) & inside
    assert must_be_nan.any()
    assert np.isnan(out[must_be_nan]).all()
    assert np.isfinite(out[must_be_valid]).all()


def test_outside_is_nodata_and_fill_colour():
    sample = _constant_sample()
    out = Crop(-3, -2, 10, 12, fill=(1, 2, 3))(sample)
    assert np.isnan(out["agl"][:3]).all()
    assert np.isnan(out["agl"][:, :2]).all()
    assert (out["image"][:3] == (1, 2, 3)).all()
    assert (out["image"][:, :2] == (1, 2, 3)).all()
    np.testing.assert_array_equal(out["image"][3:, 2:], sample["image"][:7, :10])
    np.testing.assert_array_equal(out["agl"][3:, 2:], sample["agl"][:7, :10])


def test_crop_entirely_outside():
    out = Crop(100, 100, 8, 6, fill=(9, 9, 9))(_constant_sample())
    assert out["agl"].shape == (8, 6)
    assert np.isnan(out["agl"]).all()
    assert (out["image"] == 9).all()


def test_resize_shrink_marks_only_touched_blocks():
    """Halving with area averaging: an output pixel is the mean of its 2×2 block, and
    no-data exactly where its block holds no-data."""
    rng = np.random.default_rng(0)
    agl = rng.uniform(0, 30, (H, W)).astype(np.float32)
    agl[5, 7] = np.nan
    sample = {"image": np.zeros((H, W, 3), np.uint8), "agl": agl, "gsd": 0.5}
    out = Resize(H // 2, W // 2)(sample)["agl"]
    blocks = agl.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(blocks))
    ok = np.isfinite(blocks)
    np.testing.assert_allclose(out[ok], blocks[ok], rtol=1e-5)


@pytest.mark.parametrize(("rotate", "zoom", "inside"), [(10, 1.6, True), (10, 0.7, False)])
def test_agl_without_nodata(rotate, zoom, inside):
    """Hole-free AGL: exact values inside; no-data only where the source ends."""
    agl = np.full((H, W), 4.5, dtype=np.float32)
    sample = {"image": np.zeros((H, W, 3), np.uint8), "agl": agl, "gsd": 0.5}
    out = Affine(rotate, zoom)(sample)["agl"]
    ok = np.isfinite(out)
    np.testing.assert_allclose(out[ok], 4.5, atol=1e-5)
    assert ok.all() == inside
    if not inside:
        assert np.isnan(out[0, 0])
        assert ok[H // 2, W // 2]


def test_image_warp_matches_plain_opencv(tfh):
    """The faster 4-channel route gives the very pixels of a plain 3-channel warp."""
    sample = tfh.smooth_sample(H, W, 3)
    t = Affine(17, 1.2, (1.5, -2.0), fill=(10, 20, 30))
    m = t.plan((H, W)).matrix[:2]
    want = cv2.warpAffine(
        sample["image"], m, (W, H), flags=cv2.INTER_LINEAR, borderValue=(10, 20, 30)
    )
    np.testing.assert_array_equal(t(sample)["image"], want)
