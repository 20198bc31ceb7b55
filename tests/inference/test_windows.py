"""Sliding windows: coverage, cosine blending, strip-wise release of final rows."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from geopose.errors import UsageError
from geopose.inference.windows import StripBlender, WindowGrid, blend_profile, window_starts


@pytest.mark.parametrize(
    ("length", "size", "overlap"), [(64, 64, 8), (50, 64, 8), (300, 64, 16), (129, 64, 0)]
)
def test_windows_cover_every_pixel_and_stay_inside(length: int, size: int, overlap: int) -> None:
    starts = window_starts(length, size, overlap)
    covered = np.zeros(length, dtype=int)
    for s in starts:
        covered[s : s + min(size, length)] += 1
        assert s >= 0
        assert s + min(size, length) <= length
    assert covered.min() >= 1
    assert starts == sorted(starts)
    if len(starts) > 1:
        assert all(
            b - a >= size - overlap or b == length - size for a, b in itertools.pairwise(starts)
        )


def test_bad_window_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        window_starts(100, 64, 64)
    with pytest.raises(UsageError):
        window_starts(0, 64, 8)


def test_blend_profile_is_a_positive_raised_cosine_towards_neighbours() -> None:
    w = blend_profile(32, 8, ramp_start=True, ramp_end=False)
    expected = [0.5 - 0.5 * math.cos(math.pi * (i + 0.5) / 8) for i in range(8)]
    np.testing.assert_allclose(w[:8], expected, rtol=1e-6)
    assert (w[8:] == 1).all()
    assert (w > 0).all()
    np.testing.assert_array_equal(blend_profile(32, 8, False, False), np.ones(32))


def test_strip_blender_reassembles_a_raster_from_exact_windows() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random((150, 97)).astype(np.float32)
    grid = WindowGrid(150, 97, 48, 12)
    blender = StripBlender(grid)
    out = np.full_like(truth, np.nan)
    released: list[int] = []
    for top in grid.rows:
        for w in grid.row(top):
            blender.add(w, truth[w.top : w.top + w.height, w.left : w.left + w.width])
        for block_top, block in blender.finish_row():
            assert block_top == (released[-1] if released else 0)
            out[block_top : block_top + block.shape[0]] = block
            released.append(block_top + block.shape[0])
    assert released[-1] == 150
    np.testing.assert_allclose(out, truth, rtol=1e-6)


def test_strip_blender_blends_disagreeing_windows_by_weight() -> None:
    grid = WindowGrid(16, 40, 24, 8)  # two windows side by side: [0, 24) and [16, 40)
    blender = StripBlender(grid)
    left, right = grid.row(0)
    blender.add(left, np.zeros((16, 24), dtype=np.float32))
    blender.add(right, np.ones((16, 24), dtype=np.float32))
    [(_top, block)] = list(blender.finish_row())
    wl = blend_profile(24, 8, False, True)[16:]
    wr = blend_profile(24, 8, True, False)[:8]
    np.testing.assert_allclose(block[0, 16:24], wr / (wl + wr), rtol=1e-6)
    assert (block[:, :16] == 0).all()
    assert (block[:, 24:] == 1).all()
