"""Random geometric transforms: seeded and reproducible, draws within their limits, and
every draw consistent by the vector-field check."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from geopose.transforms import (
    Affine,
    Chain,
    Dihedral,
    RandomAffine,
    RandomD4,
    RandomHeightScale,
    RandomSizedCrop,
)

D4_OPS = {  # transpose first, then k quarter turns, expressed with the reference's generators
    (k, t): (["transpose"] if t else []) + ["rot90"] * k for k in range(4) for t in (False, True)
}


@pytest.mark.parametrize("seed", range(6))
def test_random_d4_draw_consistent(seed, tfh):
    sample = tfh.smooth_sample(20, 30, seed)
    t = RandomD4(rng=seed)
    element = t.draw((20, 30))
    assert isinstance(element, Dihedral)
    out = RandomD4(rng=seed)(sample)
    want = tfh.sample_flow(sample).astype(np.float64)
    for op in D4_OPS[(element.k, element.transpose)]:
        want = tfh.d4_flow_reference(want, op)
    got = tfh.sample_flow(out)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = np.isfinite(want)
    assert np.max(np.abs(got[ok] - want[ok])) <= 1e-4


def test_random_d4_covers_the_group():
    t = RandomD4(rng=0)
    seen = {(e.k, e.transpose) for e in (t.draw((8, 8)) for _ in range(200))}
    assert seen == set(D4_OPS)


@pytest.mark.parametrize("seed", range(5))
def test_random_affine_draw_consistent(seed, tfh):
    h, w = 40, 48
    sample = tfh.smooth_sample(h, w, seed)
    t = RandomAffine(rotate_limit=45, zoom_limit=0.3, shift_limit=0.1, rng=seed)
    drawn = t.draw((h, w))
    assert abs(drawn.rotate_deg) <= 45
    assert 0.7 <= drawn.zoom <= 1.3
    assert abs(drawn.translate[0]) <= 0.1 * w
    assert abs(drawn.translate[1]) <= 0.1 * h
    out = RandomAffine(rotate_limit=45, zoom_limit=0.3, shift_limit=0.1, rng=seed)(sample)
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), drawn.rotate_deg, drawn.zoom)
    m[:, 2] += drawn.translate
    want = tfh.warp_flow_reference(tfh.sample_flow(sample), m, (h, w))
    err, count = tfh.relative_flow_error(tfh.sample_flow(out), want)
    assert count > 0.2 * h * w
    assert err <= 0.05
    assert math.isclose(out["gsd"], sample["gsd"] / drawn.zoom)
    assert math.isclose(out["scale"], sample["scale"] * drawn.zoom)


def test_random_affine_probability():
    t = RandomAffine(rotate_limit=10, p=0.0, rng=0)
    assert all(t.draw((8, 8)).rotate_deg == 0.0 for _ in range(20))
    t = RandomAffine(rotate_limit=10, p=0.5, rng=0)
    skipped = sum(t.draw((8, 8)).rotate_deg == 0.0 for _ in range(400))
    assert 150 < skipped < 250


@pytest.mark.parametrize("seed", range(5))
def test_random_sized_crop_draw_consistent(seed, tfh):
    sample = tfh.smooth_sample(120, 100, seed)
    t = RandomSizedCrop(32, zoom_range=(0.5, 2.0), rng=seed)
    drawn = t.draw((120, 100))
    assert isinstance(drawn, Chain)
    crop, _resize = drawn.transforms
    zoom = 32 / crop.height
    assert 0.5 - 0.02 <= zoom <= 2.0 + 0.1
    assert 0 <= crop.top <= 120 - crop.height
    assert 0 <= crop.left <= 100 - crop.width
    out = RandomSizedCrop(32, zoom_range=(0.5, 2.0), rng=seed)(sample)
    assert out["image"].shape == (32, 32, 3)
    assert out["agl"].shape == (32, 32)
    m = np.array(
        [[zoom, 0, zoom * (0.5 - crop.left) - 0.5], [0, zoom, zoom * (0.5 - crop.top) - 0.5]]
    )
    want = tfh.warp_flow_reference(tfh.sample_flow(sample), m, (32, 32))
    err, count = tfh.relative_flow_error(tfh.sample_flow(out), want)
    assert count > 0.5 * 32 * 32
    assert err <= 0.05
    assert math.isclose(out["gsd"], sample["gsd"] / zoom)
    assert math.isclose(out["scale"], sample["scale"] * zoom)


def test_random_sized_crop_without_zoom_is_an_exact_crop(tfh):
    sample = tfh.smooth_sample(60, 50, 0)
    t = RandomSizedCrop((20, 30), rng=3)
    crop = t.draw((60, 50)).transforms[0]
    out = RandomSizedCrop((20, 30), rng=3)(sample)
    np.testing.assert_array_equal(
        out["agl"], sample["agl"][crop.top : crop.top + 20, crop.left : crop.left + 30]
    )
    assert out["gsd"] == sample["gsd"]
    assert out["scale"] == sample["scale"]


def test_window_larger_than_tile(tfh):
    sample = tfh.smooth_sample(20, 20, 1)
    out = RandomSizedCrop(40, rng=0)(sample)
    assert out["agl"].shape == (40, 40)
    assert np.isnan(out["agl"]).mean() >= 0.7


@pytest.mark.parametrize(
    "make",
    [
        lambda r: RandomD4(rng=r),
        lambda r: RandomAffine(30, 0.2, 0.1, rng=r),
        lambda r: RandomSizedCrop(16, (0.8, 1.25), rng=r),
        lambda r: RandomHeightScale((0.5, 2.0), rng=r),
    ],
)
def test_seeded_and_reproducible(make, tfh):
    sample = tfh.smooth_sample(30, 30, 2)
    a = [make(7)(sample) for _ in range(2)]
    np.testing.assert_array_equal(a[0]["agl"], a[1]["agl"])
    assert a[0]["angle"] == a[1]["angle"]
    assert a[0]["scale"] == a[1]["scale"]
    t = make(7)
    runs = [t(sample) for _ in range(12)]
    assert len({(r["angle"], r["scale"], r["agl"].tobytes()) for r in runs}) > 1
    t.reseed(7)
    again = t(sample)
    np.testing.assert_array_equal(again["agl"], a[0]["agl"])


def test_height_scale_keeps_flow(tfh):
    sample = tfh.smooth_sample(24, 24, 3)
    t = RandomHeightScale((0.5, 2.0), rng=1)
    k = RandomHeightScale((0.5, 2.0), rng=1).draw()
    assert 0.5 <= k <= 2.0
    out = t(sample)
    np.testing.assert_allclose(out["agl"], sample["agl"] * k, rtol=1e-6)
    assert math.isclose(out["scale"], sample["scale"] / k)
    np.testing.assert_allclose(tfh.sample_flow(out), tfh.sample_flow(sample), rtol=1e-5)
    np.testing.assert_array_equal(out["image"], sample["image"])
    assert out["gsd"] == sample["gsd"]
    assert out["angle"] == sample["angle"]


def test_random_transforms_pass_unlabelled(tfh):
    sample = tfh.smooth_sample(40, 40, 4, labels=False)
    for t in [RandomD4(rng=0), RandomAffine(20, 0.2, rng=0), RandomSizedCrop(16, (0.5, 2), rng=0)]:
        out = t(sample)
        assert "agl" not in out
        assert "scale" not in out
        assert "angle" not in out
        assert out["gsd"] > 0
    assert RandomHeightScale((0.5, 2), rng=0)(sample).keys() == sample.keys()


@pytest.mark.parametrize(
    "bad",
    [
        lambda: RandomAffine(zoom_limit=(-1.0, 0.5)),
        lambda: RandomAffine(rotate_limit=(10, -10)),
        lambda: RandomAffine(p=1.5),
        lambda: RandomSizedCrop(0),
        lambda: RandomSizedCrop(16, (2.0, 1.0)),
        lambda: RandomHeightScale((0.0, 1.0)),
    ],
)
def test_bad_parameters_rejected(bad):
    with pytest.raises(ValueError, match="must"):
        bad()


def test_affine_draw_is_an_affine():
    assert isinstance(RandomAffine(5, rng=0).draw((8, 8)), Affine)
