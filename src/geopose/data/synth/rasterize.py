"""Rasterise a district (metres) into a pixel window at a ground sample distance.

Pixel ``(row, col)`` of a window whose top-left corner is at ``(x0, y0)`` metres covers
``[x0 + col·gsd, x0 + (col+1)·gsd)`` × ``[y0 + row·gsd, …)``; polygons are drawn with
sub-pixel precision (OpenCV fixed point, 1/16 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from geopose.data.synth.scene import ROAD, Poly, Scene

_SHIFT = 4  # OpenCV fixed-point bits for sub-pixel polygon vertices
_ONE = 1 << _SHIFT


@dataclass
class Raster:
    """A district window on the pixel grid (all H×W)."""

    height: NDArray[np.float32]  # m, top surface (buildings, trees; ground 0)
    building: NDArray[np.int32]  # 1 + row of Scene.building_table(), 0 = none
    tree: NDArray[np.int32]  # 1 + row of Scene.tree_table() where a crown is on top, else 0
    ground: NDArray[np.uint8]  # ground cover class under everything
    origin: tuple[float, float]  # (x0, y0) m of the window's top-left corner
    gsd: float  # m/px

    def crop(self, box: tuple[int, int, int, int]) -> Raster:
        """The part ``(r0, r1, c0, c1)`` of the window (views, not copies)."""
        r0, r1, c0, c1 = box
        origin = (self.origin[0] + c0 * self.gsd, self.origin[1] + r0 * self.gsd)
        return Raster(
            self.height[r0:r1, c0:c1], self.building[r0:r1, c0:c1], self.tree[r0:r1, c0:c1],
            self.ground[r0:r1, c0:c1], origin, self.gsd,
        )  # fmt: skip


def _pixels(poly: Poly, origin: tuple[float, float], gsd: float) -> NDArray[np.int32]:
    """Metre vertices → OpenCV fixed-point pixel coordinates (pixel centres on integers)."""
    px = (poly - np.asarray(origin)) / gsd - 0.5
    return np.rint(px * _ONE).astype(np.int32)


def overlaps(poly: Poly, box: tuple[float, float, float, float]) -> bool:
    """True when the polygon's bounding box meets ``box`` = (x0, y0, x1, y1) metres."""
    x0, y0, x1, y1 = box
    return bool(
        poly[:, 0].max() >= x0 and poly[:, 0].min() <= x1
        and poly[:, 1].max() >= y0 and poly[:, 1].min() <= y1
    )  # fmt: skip


def rasterize(
    scene: Scene, gsd: float, origin: tuple[float, float], shape: tuple[int, int]
) -> Raster:
    """Heights (m), building/tree ids and ground cover of a ``shape`` window at ``gsd`` m/px."""
    rows, cols = shape
    box = (origin[0], origin[1], origin[0] + cols * gsd, origin[1] + rows * gsd)
    ground = np.full(shape, ROAD, np.uint8)  # streets everywhere outside the blocks
    for poly, cover in scene.ground:
        if overlaps(poly, box):
            cv2.fillPoly(ground, [_pixels(poly, origin, gsd)], int(cover), cv2.LINE_8, _SHIFT)
    building = np.zeros(shape, np.int32)
    for i, (ring, hole) in enumerate(zip(scene.rings, scene.holes, strict=False)):
        if overlaps(ring, box):
            cv2.fillPoly(building, [_pixels(ring, origin, gsd)], i + 1, cv2.LINE_8, _SHIFT)
            if hole is not None:
                cv2.fillPoly(building, [_pixels(hole, origin, gsd)], 0, cv2.LINE_8, _SHIFT)
    hb = _building_heights(scene, building, origin, gsd)
    tree, ht = _crowns(scene, shape, origin, gsd)
    on_top = ht > hb
    height = np.where(on_top, ht, hb).astype(np.float32)
    return Raster(height, building, np.where(on_top, tree, 0).astype(np.int32), ground, origin, gsd)


def _building_heights(
    scene: Scene, building: NDArray[np.int32], origin: tuple[float, float], gsd: float
) -> NDArray[np.float32]:
    table = scene.building_table()
    eave = np.concatenate([[0.0], table[:, 0]]) if len(table) else np.zeros(1)
    h = eave[building].astype(np.float32)
    if not len(table):
        return h
    rise = np.concatenate([[0.0], table[:, 1]])
    rr, cc = np.nonzero(rise[building] > 0)
    if rr.size:
        b = building[rr, cc] - 1
        x = origin[0] + (cc + 0.5) * gsd
        y = origin[1] + (rr + 0.5) * gsd
        across = np.abs((x - table[b, 2]) * table[b, 4] + (y - table[b, 3]) * table[b, 5])
        ridge = table[b, 1] * np.clip(1.0 - across / table[b, 6], 0.0, 1.0)
        h[rr, cc] += ridge.astype(np.float32)
    return h


def _crowns(
    scene: Scene, shape: tuple[int, int], origin: tuple[float, float], gsd: float
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Tree id map and dome-shaped crown heights (m); taller trees win overlaps."""
    rows, cols = shape
    ids = np.zeros(shape, np.int32)
    table = scene.tree_table()
    if not len(table):
        return ids, np.zeros(shape, np.float32)
    cx = (table[:, 0] - origin[0]) / gsd - 0.5
    cy = (table[:, 1] - origin[1]) / gsd - 0.5
    rad = table[:, 2] / gsd
    near = (cx + rad >= -1) & (cx - rad <= cols) & (cy + rad >= -1) & (cy - rad <= rows)
    for i in np.nonzero(near)[0][np.argsort(table[near, 3], kind="stable")]:
        centre = (round(cx[i] * _ONE), round(cy[i] * _ONE))
        cv2.circle(ids, centre, round((rad[i] + 1) * _ONE), int(i) + 1, -1, cv2.LINE_8, _SHIFT)
    rr, cc = np.nonzero(ids)
    t = ids[rr, cc] - 1
    d2 = ((cc - cx[t]) ** 2 + (rr - cy[t]) ** 2) / np.maximum(rad[t], 0.5) ** 2
    crown = np.zeros(shape, np.float32)
    crown[rr, cc] = table[t, 3] * np.sqrt(np.clip(1.0 - d2, 0.0, 1.0)) ** 0.6
    return ids, crown
