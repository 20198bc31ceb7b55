"""Image-space AGL labels from ground heights and the view (the renderer's ray rule).

An oblique image shows, at each pixel ``p``, the highest surface point whose ray passes
through it: a point of height ``z`` whose footprint is at ground pixel ``f`` is imaged at
``f − z·scale·d`` (DESIGN.md §1). The synthetic renderer evaluates exactly this rule
(:func:`geopose.data.synth.raytrace.trace`); labels of real images use the same
function on the heights reprojected to the image's ground grid. The grid is first
grown towards the flow (``+d``) by the longest lean, so buildings standing just outside
the image still cover the pixels their roofs lean into.

A pixel is no-data where the surface point it shows has no height (no-data in the
elevation raster, or outside it); ground hidden behind a building is simply not seen
(the pixel shows the building), so it never needs a no-data mark of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geopose.conventions import angle_to_direction
from geopose.data.synth.raytrace import trace
from geopose.label.grid import GroundGrid

#: Height (m) the first padding guess allows for; grown when the heights are taller.
FIRST_GUESS_M = 60.0
_MAX_ROUNDS = 6

HeightSource = Callable[[GroundGrid], NDArray[np.float32]]


@dataclass(frozen=True)
class Padding:
    """Whole pixels added on each side of the image grid."""

    top: int
    bottom: int
    left: int
    right: int


def lean_padding(scale: float, angle: float, max_height: float) -> Padding:
    """Pixels the footprints of ``max_height``-metre points can lie beyond the image."""
    reach = max(max_height, 0.0) * scale + 2.0
    dx, dy = angle_to_direction(angle)
    return Padding(
        top=math.ceil(reach * max(-dy, 0.0)) + 1,
        bottom=math.ceil(reach * max(dy, 0.0)) + 1,
        left=math.ceil(reach * max(-dx, 0.0)) + 1,
        right=math.ceil(reach * max(dx, 0.0)) + 1,
    )


def image_space_agl(
    heights: NDArray[np.floating], scale: float, angle: float
) -> NDArray[np.float32]:
    """AGL (float32 m, NaN = no data) seen at each pixel of a ground-height raster.

    ``heights``: H×W metres on the image's ground grid (NaN = no data, clipped at 0);
    ``scale`` px/m; ``angle`` rad. Pure ray rule: a pixel is no-data exactly where the
    cell it shows has no height.
    """
    h = np.asarray(heights, dtype=np.float64)
    known = np.isfinite(h)
    surface = np.where(known, np.maximum(h, 0.0), 0.0)
    agl, foot = trace(surface, scale, angle)
    agl[~known.ravel()[foot]] = np.nan
    return agl


def label_agl(
    grid: GroundGrid, scale: float, angle: float, heights_on: HeightSource
) -> NDArray[np.float32]:
    """AGL label (float32 m, NaN = no data) of the image on ``grid``.

    ``heights_on(grid)`` returns the heights above ground on any grid (NaN = no data);
    it is called on the image grid grown by the lean of the tallest height found, again
    if a taller one turns up in the grown margin.
    """
    max_height = FIRST_GUESS_M
    for _ in range(_MAX_ROUNDS):
        pad = lean_padding(scale, angle, max_height)
        heights = heights_on(grid.padded(pad.top, pad.bottom, pad.left, pad.right))
        tallest = float(np.nanmax(heights)) if np.isfinite(heights).any() else 0.0
        if tallest <= max_height:
            break
        max_height = tallest * 1.05
    agl = image_space_agl(heights, scale, angle)
    return np.ascontiguousarray(
        agl[pad.top : pad.top + grid.height, pad.left : pad.left + grid.width]
    )
