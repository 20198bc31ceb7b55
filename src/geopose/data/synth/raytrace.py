"""The exact ray rule of an oblique affine camera over a height field (DESIGN.md §1).

A point at ground pixel ``f`` and height ``z`` (m) is imaged at ``f − z·s·d``, so a pixel
``p`` shows the highest surface point on its ray::

    AGL(p) = max{ z ≥ 0 : H(p + z·s·d) ≥ z }

On one digital line (see :mod:`geopose.data.synth.lines`) with ``k = s·cos φ`` rows per
metre, cell ``y'`` (covering rows ``[y' − ½, y' + ½)``, height ``H(y')``) can hold the ray
of row ``y`` iff ``L(y') = y' − ½ − k·H(y') ≤ y``; the highest point is reached in the
*last* such cell ``Y``, at ``min(H(Y), (Y + ½ − y)/k)`` (a roof when the first term wins,
a facade otherwise). With the suffix minimum ``M`` of ``L`` (non-decreasing), ``Y`` is
the number of cells with ``M ≤ y`` minus one — a reversed ``np.minimum.accumulate`` and a
``np.bincount``/``np.cumsum`` count per line: O(N), fully vectorised, exact for the
piecewise-constant cells of the digital lines.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from geopose.data.synth.lines import LineFrame, reduce_angle


def _last_cell(lines: NDArray[np.float64], k: float) -> NDArray[np.int64]:
    """Per line (columns of ``lines``, heights in m) the last cell the ray of each row reaches."""
    rows, n = lines.shape
    reach = lines * -k
    reach += np.arange(rows, dtype=np.float64)[:, None] - 0.5
    flipped = reach[::-1]
    np.minimum.accumulate(flipped, axis=0, out=flipped)  # suffix minimum M, in place
    np.ceil(reach, out=reach)
    np.clip(reach, 0, rows, out=reach)  # first row whose ray reaches the cell (rows = none)
    flat = reach.astype(np.int64)
    flat *= n
    flat += np.arange(n, dtype=np.int64)[None, :]
    counts = np.bincount(flat.ravel(), minlength=(rows + 1) * n)[: rows * n].reshape(rows, n)
    last = np.cumsum(counts, axis=0)
    last -= 1
    return last


def _trace_reduced(
    height: NDArray[np.float64], scale: float, phi: float, with_foot: bool
) -> tuple[NDArray[np.float32], NDArray[np.int64] | None]:
    """AGL and footprint (flat index into ``height``) for a direction reduced to ``phi``."""
    rows, cols = height.shape
    k = scale * math.cos(phi)
    if k <= 0:
        index = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
        return height.astype(np.float32), index if with_foot else None
    frame = LineFrame.build(rows, cols, phi)
    lines = frame.shear(height, 0.0)
    last = _last_cell(lines, k)
    agl = np.take_along_axis(lines, last, axis=0)
    facade = (last + 0.5 - np.arange(rows, dtype=np.float64)[:, None]) / k
    np.minimum(agl, facade, out=agl)
    agl_img = frame.unshear(agl).astype(np.float32)
    if not with_foot:
        return agl_img, None
    # Footprint cell in the reduced raster: row `last`, column j − (max o − o(last)).
    foot = frame.offsets[last]
    foot -= int(frame.offsets.max())
    foot += np.arange(frame.n_lines, dtype=np.int64)[None, :]
    foot += last * cols
    return agl_img, frame.unshear(foot)


def trace(
    height: NDArray[np.floating], scale: float, angle: float
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Render AGL (m) and, per pixel, the flat index (into ``height``) of its footprint cell.

    Args:
        height: H×W surface heights in metres over ground pixels (≥ 0; ground 0).
            Outside the raster the ground is taken to be at 0.
        scale: pixels of lean per metre of height (px/m), ≥ 0.
        angle: flow direction in radians (DESIGN.md §1).

    The footprint cell of a pixel is the cell of the surface point it shows: a roof or
    ground pixel shows that cell's top, a facade pixel (AGL below the cell's height) the
    cell's wall facing the camera.
    """
    h = np.asarray(height, dtype=np.float64)
    agl, foot = _trace(h, scale, float(angle), with_foot=True)
    assert foot is not None  # with_foot=True always returns it (internal invariant)
    return agl, foot


def _trace(
    h: NDArray[np.float64], scale: float, angle: float, with_foot: bool
) -> tuple[NDArray[np.float32], NDArray[np.int64] | None]:
    if h.ndim != 2:
        raise ValueError(f"height must be H×W, got shape {h.shape}")
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a finite number ≥ 0 px/m, got {scale}")
    k, phi = reduce_angle(angle)
    rotated = np.ascontiguousarray(np.rot90(h, -k))
    agl, foot = _trace_reduced(rotated, scale, phi, with_foot)
    agl = np.ascontiguousarray(np.rot90(agl, k))
    if foot is None:
        return agl, None
    # Footprint indices refer to the rotated raster: map them to the original one.
    index = np.rot90(np.arange(h.size, dtype=np.int64).reshape(h.shape), -k).ravel()
    return agl, np.ascontiguousarray(np.rot90(index[foot], k))


def render_agl(height: NDArray[np.floating], scale: float, angle: float) -> NDArray[np.float32]:
    """AGL (float32 m, H×W) that an oblique view at ``scale`` (px/m) and ``angle`` (rad) shows.

    ``height`` is the H×W ground-level height field in metres (buildings, trees; ground
    0). Pure function of its inputs; ``np.rot90(height, m)`` at ``angle + m·π/2`` gives
    exactly ``np.rot90`` of the result.
    """
    return _trace(np.asarray(height, dtype=np.float64), scale, float(angle), with_foot=False)[0]


def shadow_height(
    height: NDArray[np.floating], gsd: float, sun_azimuth: float, sun_elevation: float
) -> NDArray[np.float32]:
    """Per cell, the height (m) below which its vertical line lies in shadow.

    ``sun_azimuth`` is the direction towards the sun in image pixels, in the flow's angle
    convention (rad); ``sun_elevation`` in rad; ``gsd`` in m/px. A point ``(q, z)`` is lit
    iff ``z ≥ max_{t>0} H(q + t·u) − t·gsd·tan(elevation)`` (``t`` to the near edge of
    each cell of the digital line towards the sun); shadows are thus
    ``height / tan(elevation)`` long. A surface cell is shadowed where the result exceeds
    its own height.
    """
    h = np.asarray(height, dtype=np.float64)
    k, phi = reduce_angle(float(sun_azimuth))
    rotated = np.ascontiguousarray(np.rot90(h, -k))
    rows, cols = rotated.shape
    frame = LineFrame.build(rows, cols, phi)
    lines = frame.shear(rotated, 0.0)
    drop = gsd * math.tan(sun_elevation) / math.cos(phi)  # metres of sun ray rise per row
    r = np.arange(rows, dtype=np.float64)[:, None]
    g = lines - drop * r
    best = np.full_like(g, -np.inf)
    best[:-1] = np.maximum.accumulate(g[:0:-1], axis=0)[::-1]
    # the sun ray meets cell r' at its near edge, (r' − r − ½) rows away
    shade = np.maximum(best + drop * (r + 0.5), 0.0)
    return np.ascontiguousarray(np.rot90(frame.unshear(shade), k)).astype(np.float32)
