"""Crop and Resize: exact crops, the aspect rule, zoom labels, flow consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geopose.transforms import Crop, Resize


def test_crop_is_exact_and_keeps_labels(tfh):
    sample = tfh.smooth_sample(30, 40, 0)
    out = Crop(4, 7, 12, 20)(sample)
    np.testing.assert_array_equal(out["image"], sample["image"][4:16, 7:27])
    np.testing.assert_array_equal(out["agl"], sample["agl"][4:16, 7:27])
    for key in ("gsd", "scale", "angle", "city", "id"):
        assert out[key] == sample[key]


@pytest.mark.parametrize(("h", "w"), [(15, 20), (60, 80), (45, 60), (31, 41)])
def test_resize_flow_and_labels(h, w, tfh):
    sample = tfh.smooth_sample(30, 40, 1, period=40)
    out = Resize(h, w)(sample)
    zx, zy = w / 40, h / 30
    assert math.isclose(out["gsd"], sample["gsd"] / math.sqrt(zx * zy))
    assert math.isclose(out["scale"], sample["scale"] * math.sqrt(zx * zy))
    assert out["angle"] == sample["angle"]
    # Half-pixel convention: pixel edges map onto edges.
    m = np.array([[zx, 0, 0.5 * zx - 0.5], [0, zy, 0.5 * zy - 0.5]])
    want = tfh.warp_flow_reference(tfh.sample_flow(sample), m, (h, w))
    err, count = tfh.relative_flow_error(tfh.sample_flow(out), want)
    assert count > 0.5 * h * w
    assert err <= 0.05


def test_resize_that_distorts_is_an_error():
    with pytest.raises(ValueError, match="distort"):
        Resize(20, 20).plan((30, 40))
    Resize(31, 41).plan((30, 40))  # within one pixel of proportional: allowed


def test_resize_unlabelled(tfh):
    sample = tfh.smooth_sample(30, 40, 2, labels=False)
    out = Resize(15, 20)(sample)
    assert "agl" not in out
    assert out["image"].shape == (15, 20, 3)
    assert math.isclose(out["gsd"], sample["gsd"] * 2)
