"""Named levels and build_augmentation."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest

from geopose.transforms import LEVELS, build_augmentation


def test_none_changes_nothing_and_d4_only_turns_the_tile(make_sample):
    sample = make_sample(24, 24, seed=4)
    same = build_augmentation("none", rng=0)(copy.deepcopy(sample))
    np.testing.assert_array_equal(same["image"], sample["image"])
    np.testing.assert_array_equal(same["agl"], sample["agl"])
    assert (same["scale"], same["angle"], same["gsd"]) == (
        sample["scale"], sample["angle"], sample["gsd"]
    )  # fmt: skip
    turns = set()
    for seed in range(16):
        out = build_augmentation("d4", rng=seed)(copy.deepcopy(sample))
        assert out["scale"] == sample["scale"]  # no zoom
        assert sorted(out["agl"][np.isfinite(out["agl"])].tolist()) == sorted(
            sample["agl"][np.isfinite(sample["agl"])].tolist()
        )  # the same heights, moved
        # one of the eight D4 images of θ: ±θ + k·π/2
        quarter = math.pi / 2
        off = [(out["angle"] - sign * sample["angle"]) % quarter for sign in (1, -1)]
        assert min(min(o, quarter - o) for o in off) < 1e-9
        turns.add(round(out["angle"], 6))
    assert len(turns) > 1  # it does turn the tile


def test_unknown_level_names_the_allowed_ones():
    with pytest.raises(ValueError, match="none, d4, light, medium, hard"):
        build_augmentation("extreme")


@pytest.mark.parametrize("level", LEVELS)
def test_builds_without_invalid_argument_warnings(level):
    """albumentations 2.x silently ignores 1.x argument names, with a UserWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_augmentation(level, 32, rng=0, height_scale=(0.8, 1.25))


@pytest.mark.parametrize("level", LEVELS)
def test_runs_and_keeps_invariants(level, tfh):
    sample = tfh.smooth_sample(96, 96, 0)
    aug = build_augmentation(level, 48, rng=1)
    for _ in range(6):
        out = aug(sample)
        assert out["image"].shape == (48, 48, 3)
        assert out["image"].dtype == np.uint8
        assert out["agl"].shape == (48, 48)
        assert out["agl"].dtype == np.float32
        assert out["image"].flags.c_contiguous
        assert out["agl"].flags.c_contiguous
        # gsd · scale = cot(elevation) is unchanged by every geometric change.
        assert math.isclose(out["gsd"] * out["scale"], sample["gsd"] * sample["scale"])
        assert 0 <= out["angle"] < 2 * math.pi
        assert (out["city"], out["id"]) == (sample["city"], sample["id"])
        # Valid AGL keeps its range (no mixing with fill zeros).
        ok = np.isfinite(out["agl"])
        src = sample["agl"][np.isfinite(sample["agl"])]
        assert out["agl"][ok].min() >= src.min() - 1e-4
        assert out["agl"][ok].max() <= src.max() + 1e-4


@pytest.mark.parametrize("level", LEVELS)
def test_reproducible_and_reseedable(level, tfh):
    sample = tfh.smooth_sample(64, 64, 1)
    a = build_augmentation(level, 32, rng=3)
    b = build_augmentation(level, 32, rng=3)
    for _ in range(3):
        x, y = a(sample), b(sample)
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["agl"], y["agl"])
        assert x["angle"] == y["angle"]
    a.reseed(11)
    b.reseed(11)
    np.testing.assert_array_equal(a(sample)["image"], b(sample)["image"])


def test_without_crop_keeps_size_and_unlabelled_passes(tfh):
    sample = tfh.smooth_sample(40, 40, 2, labels=False)
    for level in LEVELS:
        out = build_augmentation(level, None, rng=0)(sample)
        assert out["image"].shape == (40, 40, 3)
        assert "agl" not in out


def test_height_scale_option(tfh):
    sample = tfh.smooth_sample(40, 40, 3)
    out = build_augmentation("none", None, rng=0, height_scale=(2.0, 2.0))(sample)
    assert math.isclose(out["scale"], sample["scale"] / 2)
    np.testing.assert_allclose(out["agl"], sample["agl"] * 2)


@pytest.mark.parametrize("level", ["medium", "hard"])
def test_input_sample_is_never_modified(level, tfh):
    sample = tfh.smooth_sample(64, 64, 4)
    image, agl = sample["image"].copy(), sample["agl"].copy()
    aug = build_augmentation(level, None, rng=5, height_scale=(0.5, 2.0))
    for _ in range(10):
        out = aug(sample)
        out["image"][...] = 0
    np.testing.assert_array_equal(sample["image"], image)
    np.testing.assert_array_equal(sample["agl"], agl)


@pytest.mark.parametrize("level", ["d4", "light", "medium", "hard"])
@pytest.mark.parametrize("seed", range(3))
def test_level_draws_pass_the_vector_field_check(level, seed, tfh):
    """Replay a level's geometric draw (a copy of its Chain with the same generator
    state) to learn the pixel map; the labels it produced must move the flow field
    exactly as moving v as an image does."""
    sample = tfh.smooth_sample(120, 120, seed, period=40)
    aug = build_augmentation(level, 48, rng=seed)
    chain = aug.transforms[0]
    plan = copy.deepcopy(chain).plan((120, 120))
    out = aug(sample)
    det = abs(np.linalg.det(plan.matrix[:2, :2]))
    assert math.isclose(out["gsd"], sample["gsd"] / math.sqrt(det), rel_tol=1e-9)
    want = tfh.warp_flow_reference(tfh.sample_flow(sample), plan.matrix, (48, 48))
    err, count = tfh.relative_flow_error(tfh.sample_flow(out), want)
    assert count > 100  # dropout holes (up to 128 px) may cover much of a 48 px crop
    assert err <= 0.05
