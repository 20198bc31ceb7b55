"""Chain: geometric steps fused into one warp agree with applying them one by one."""

from __future__ import annotations

import math

import cv2
import numpy as np

from geopose.conventions import angle_difference
from geopose.transforms import Affine, Chain, Compose, Crop, HFlip, Resize, Rot90, Transpose


def test_fused_labels_equal_sequential_labels(tfh):
    sample = tfh.smooth_sample(40, 48, 0)
    steps = [Rot90(1), Affine(20, 1.3, (1, 2)), HFlip(), Crop(3, 4, 30, 30), Resize(45, 45)]
    fused = Chain(steps)(sample)
    seq = Compose(steps)(sample)
    assert float(angle_difference(fused["angle"], seq["angle"])) < 1e-9
    assert math.isclose(fused["gsd"], seq["gsd"])
    assert math.isclose(fused["scale"], seq["scale"])
    assert fused["image"].shape == seq["image"].shape == (45, 45, 3)


def test_fused_flow_consistent(tfh):
    """Rot90, then a 25° rotation with zoom 1.4, then a crop, as one pixel map."""
    sample = tfh.smooth_sample(40, 48, 1)
    out = Chain([Rot90(1), Affine(25, 1.4), Crop(5, 6, 30, 28)])(sample)
    rot90 = np.array([[0.0, 1, 0], [-1, 0, 47], [0, 0, 1]])  # (x, y) -> (y, W-1-x)
    aff = np.vstack([cv2.getRotationMatrix2D(((40 - 1) / 2, (48 - 1) / 2), 25, 1.4), [0, 0, 1]])
    crop = np.array([[1.0, 0, -6], [0, 1, -5], [0, 0, 1]])
    want = tfh.warp_flow_reference(tfh.sample_flow(sample), crop @ aff @ rot90, (30, 28))
    err, count = tfh.relative_flow_error(tfh.sample_flow(out), want)
    assert count > 300
    assert err <= 0.05


def test_fused_pixels_close_to_sequential(tfh):
    sample = tfh.smooth_sample(40, 48, 2, holes=0, period=40)
    steps = [Transpose(), Affine(-15, 1.1), Affine(10, 0.9, (2, 0))]
    fused = Chain(steps)(sample)
    seq = Compose(steps)(sample)
    ok = np.isfinite(fused["agl"]) & np.isfinite(seq["agl"])
    assert ok.mean() > 0.5
    assert np.max(np.abs(fused["agl"][ok] - seq["agl"][ok])) < 0.5


def test_fused_warp_reads_only_the_needed_area(tfh):
    """A crop deep inside a tile must not depend on the rest of the tile."""
    sample = tfh.smooth_sample(200, 200, 3, holes=0)
    chain = Chain([Affine(30, 1.2), Crop(90, 90, 20, 20)])
    a = chain(sample)
    broken = dict(sample)
    broken["agl"] = sample["agl"].copy()
    broken["agl"][:40] = np.nan  # far from the crop's footprint
    b = chain(broken)
    np.testing.assert_array_equal(a["agl"], b["agl"])
    assert np.isfinite(a["agl"]).all()
