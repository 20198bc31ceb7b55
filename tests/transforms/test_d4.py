"""D4 transforms: exact flow consistency, group laws, plans that match numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geopose.conventions import angle_difference
from geopose.errors import DataError
from geopose.transforms import Affine, Dihedral, HFlip, Rot90, Transpose, VFlip, apply_plan

GENERATORS = {"rot90": Rot90(1), "transpose": Transpose(), "hflip": HFlip(), "vflip": VFlip()}


def _same(a: dict, b: dict) -> None:
    """Pixels identical (NaN in the same places) and the angle equal modulo 2π."""
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["agl"], b["agl"])
    assert float(angle_difference(a["angle"], b["angle"])) < 1e-9
    assert (a["gsd"], a["scale"]) == (b["gsd"], b["scale"])


@pytest.mark.parametrize("op", sorted(GENERATORS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flow_moves_with_pixels_exactly(op, seed, tfh):
    sample = tfh.smooth_sample(24, 36, seed)
    out = GENERATORS[op](sample)
    want = tfh.d4_flow_reference(tfh.sample_flow(sample), op)
    got = tfh.sample_flow(out)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = np.isfinite(want)
    assert np.max(np.abs(got[ok] - want[ok])) <= 1e-4
    assert (out["gsd"], out["scale"]) == (sample["gsd"], sample["scale"])


def test_rot90_matches_numpy_counter_clockwise(tfh):
    sample = tfh.smooth_sample(10, 14, 3)
    out = Rot90(1)(sample)
    np.testing.assert_array_equal(out["image"], np.rot90(sample["image"]))
    # Counter-clockwise on screen: the top-right pixel becomes the top-left one.
    np.testing.assert_array_equal(out["image"][0, 0], sample["image"][0, -1])


def test_four_quarter_turns_are_identity(tfh):
    sample = tfh.smooth_sample(20, 28, 4)
    out = sample
    for _ in range(4):
        out = Rot90(1)(out)
    _same(out, sample)
    _same(Rot90(4)(sample), sample)
    _same(Rot90(-1)(sample), Rot90(3)(sample))


def test_transpose_twice_and_flips_twice_are_identity(tfh):
    sample = tfh.smooth_sample(20, 28, 5)
    for t in (Transpose(), HFlip(), VFlip()):
        _same(t(t(sample)), sample)


def test_dihedral_relations(tfh):
    sample = tfh.smooth_sample(20, 28, 6)
    # hflip ∘ vflip = rot90²; transpose ∘ rot90 = hflip; rot90 ∘ transpose = vflip.
    _same(HFlip()(VFlip()(sample)), Rot90(2)(sample))
    _same(VFlip()(HFlip()(sample)), Rot90(2)(sample))
    _same(Transpose()(Rot90(1)(sample)), HFlip()(sample))
    _same(Rot90(1)(Transpose()(sample)), VFlip()(sample))
    _same(Transpose()(Rot90(2)(Transpose()(sample))), Rot90(2)(sample))


@pytest.mark.parametrize("k", range(4))
@pytest.mark.parametrize("transpose", [False, True])
def test_plan_warp_equals_numpy(k, transpose, tfh):
    """The integer matrix of each element, applied by warping, reproduces numpy exactly."""
    sample = tfh.smooth_sample(18, 26, 7 + k)
    element = Dihedral(k, transpose)
    by_numpy = element(sample)
    by_warp = apply_plan(sample, element.plan((18, 26)))
    _same(by_warp, by_numpy)


def test_unlabelled_sample_passes(tfh):
    sample = tfh.smooth_sample(12, 16, 8, labels=False)
    for t in [*GENERATORS.values(), Dihedral(3, True)]:
        out = t(sample)
        assert "agl" not in out
        assert "angle" not in out
        assert "scale" not in out
        assert out["gsd"] == sample["gsd"]
        assert out["id"] == sample["id"]


def test_input_is_not_modified(tfh):
    sample = tfh.smooth_sample(12, 16, 9)
    before = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in sample.items()}
    for t in GENERATORS.values():
        out = t(sample)
        out["image"][...] = 0
    np.testing.assert_array_equal(sample["image"], before["image"])
    assert sample["angle"] == before["angle"]


def test_angle_rules_on_a_known_direction(tfh):
    """θ = 0 points down; a quarter turn counter-clockwise on screen points it right."""
    sample = tfh.smooth_sample(8, 8, 10)
    sample["angle"] = 0.0
    assert math.isclose(Rot90(1)(sample)["angle"], math.pi / 2)
    assert math.isclose(Transpose()(sample)["angle"], math.pi / 2)
    assert math.isclose(VFlip()(sample)["angle"], math.pi)
    assert HFlip()(sample)["angle"] == 0.0


def test_mismatched_sizes_name_the_sample(tfh):
    sample = tfh.smooth_sample(12, 16, 11)
    sample["agl"] = sample["agl"][:, :10]
    with pytest.raises(DataError, match="TST_11: image and AGL sizes differ"):
        Rot90(1)(sample)
    with pytest.raises(DataError, match="TST_11"):
        Affine(10)(sample)
