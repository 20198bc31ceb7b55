"""One geometric change of a sample as one affine map of pixel centres.

A :class:`WarpPlan` says where every source pixel goes (a 3×3 matrix acting on
``(x, y, 1)`` with pixel centres at integer coordinates, ``x`` = column, ``y`` = row —
OpenCV's convention), how large the output is, and how the image-level labels change:
a chain of angle updates taken from :mod:`geopose.conventions` and one zoom factor
(content appears ``zoom`` times larger; GSD and scale follow ``labels_after_zoom``).
Plans compose, so a chain of geometric transforms costs a single warp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geopose.conventions import wrap_angle

AngleUpdate = Callable[[float], float]


@dataclass(frozen=True)
class WarpPlan:
    """Affine map ``matrix`` (3×3, source → destination pixel centres) of an ``in_hw``
    image onto an ``out_hw`` image (pixels), with its label changes: ``zoom`` (how many
    times larger content appears) and ``angle_updates`` (applied in order, radians)."""

    matrix: NDArray[np.float64]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    zoom: float = 1.0
    angle_updates: tuple[AngleUpdate, ...] = ()

    def then(self, nxt: WarpPlan) -> WarpPlan:
        """This plan followed by ``nxt`` (whose input must be this plan's output)."""
        if nxt.in_hw != self.out_hw:
            raise ValueError(f"cannot chain: output {self.out_hw} feeds input {nxt.in_hw}")
        return WarpPlan(
            matrix=nxt.matrix @ self.matrix,
            in_hw=self.in_hw,
            out_hw=nxt.out_hw,
            zoom=self.zoom * nxt.zoom,
            angle_updates=self.angle_updates + nxt.angle_updates,
        )

    def new_angle(self, theta: float) -> float:
        """Flow angle (rad, [0, 2π)) after the plan, from the angle ``theta`` before."""
        out = float(theta)
        for update in self.angle_updates:
            out = update(out)
        return float(wrap_angle(out))

    def integer_shift(self) -> tuple[int, int] | None:
        """``(dx, dy)`` pixels if the plan is a pure whole-pixel translation, else None."""
        m = self.matrix
        if not np.array_equal(m[:2, :2], np.eye(2)):
            return None
        dx, dy = float(m[0, 2]), float(m[1, 2])
        if dx != math.floor(dx) or dy != math.floor(dy):
            return None
        return int(dx), int(dy)


def identity_plan(hw: tuple[int, int]) -> WarpPlan:
    """The plan that changes nothing on an image of ``hw`` = (height, width) pixels."""
    return WarpPlan(np.eye(3), hw, hw)


def translation(dx: float, dy: float) -> NDArray[np.float64]:
    """3×3 matrix moving every point by (dx, dy) pixels."""
    m = np.eye(3)
    m[0, 2], m[1, 2] = dx, dy
    return m


def rotation_zoom_about(
    center_xy: tuple[float, float], rotate_rad: float, zoom: float
) -> NDArray[np.float64]:
    """3×3 matrix: rotate counter-clockwise on screen (y down) by ``rotate_rad`` and zoom
    by ``zoom`` about ``center_xy`` (pixels).

    A direction pointing down the image, (0, 1), turns towards the right, (1, 0): the
    same sense as ``cv2.getRotationMatrix2D`` with a positive angle.
    """
    c, s = zoom * math.cos(rotate_rad), zoom * math.sin(rotate_rad)
    cx, cy = center_xy
    linear = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    return translation(cx, cy) @ linear @ translation(-cx, -cy)


def scaling_half_pixel(zoom_x: float, zoom_y: float) -> NDArray[np.float64]:
    """3×3 matrix of a resize by (zoom_x, zoom_y) that maps pixel *edges* onto edges
    (the image's outer border onto the output's), as ``cv2.resize`` does."""
    m = np.diag([zoom_x, zoom_y, 1.0])
    m[0, 2] = 0.5 * zoom_x - 0.5
    m[1, 2] = 0.5 * zoom_y - 0.5
    return m
