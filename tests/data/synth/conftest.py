"""Shared helpers of the synthetic-city tests: an independent check of the ray rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage


def assert_ray_rule(height: np.ndarray, agl: np.ndarray, scale: float, theta: float) -> None:
    """AGL(p) = max{z ≥ 0 : H(p + z·s·d) ≥ z}, up to one pixel of footprint position.

    Support: the 3×3 maximum of H at the rounded footprint p + AGL·s·d reaches AGL.
    Maximality: for every z above AGL, the 3×3 minimum of H at p + z·s·d is below z.
    A footprint one pixel outside the raster may be the edge cell.
    """
    rows, cols = height.shape
    dx, dy = math.sin(theta), math.cos(theta)
    hi = ndimage.maximum_filter(height, 3, mode="constant")
    lo = ndimage.minimum_filter(height, 3, mode="constant")
    r, c = np.mgrid[0:rows, 0:cols]

    def lookup(field: np.ndarray, z: np.ndarray, edge: bool) -> np.ndarray:
        fr = np.rint(r + z * scale * dy).astype(int)
        fc = np.rint(c + z * scale * dx).astype(int)
        inside = (fr >= 0) & (fr < rows) & (fc >= 0) & (fc < cols)
        near = (fr >= -1) & (fr <= rows) & (fc >= -1) & (fc <= cols)
        seen = field[np.clip(fr, 0, rows - 1), np.clip(fc, 0, cols - 1)]
        return np.where(inside | (edge & near), seen, 0.0)

    assert np.all(lookup(hi, agl, edge=True) >= agl - 1e-4), "AGL without support"
    for z in np.linspace(0.01, float(height.max()) + 0.01, 300):
        higher = agl < z - 1e-4
        assert not np.any(higher & (lookup(lo, np.full(agl.shape, z), edge=False) >= z)), (
            f"a surface at {z:.2f} m is hidden"
        )


@pytest.fixture
def ray_rule():  # type: ignore[no-untyped-def]
    """The :func:`assert_ray_rule` checker."""
    return assert_ray_rule
