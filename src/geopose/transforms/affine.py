"""Rotation, zoom and shift about the image centre, with consistent labels."""

from __future__ import annotations

import math
from functools import partial

from geopose.conventions import angle_after_rotation
from geopose.transforms.base import GeometricTransform
from geopose.transforms.plan import WarpPlan, rotation_zoom_about, translation
from geopose.transforms.warp import DEFAULT_FILL


class Affine(GeometricTransform):
    """Rotate by ``rotate_deg`` degrees counter-clockwise on screen about the image
    centre, zoom by ``zoom`` (> 1 enlarges the content), then shift by ``translate`` =
    (dx, dy) pixels (right, down). The output has the input's size.

    Labels: angle' = angle + rotate (rad); gsd' = gsd / zoom (m/px);
    scale' = scale · zoom (px/m); AGL values (m) unchanged. Area from outside the source
    is AGL no-data and image colour ``fill``.
    """

    def __init__(
        self,
        rotate_deg: float = 0.0,
        zoom: float = 1.0,
        translate: tuple[float, float] = (0.0, 0.0),
        fill: tuple[int, int, int] = DEFAULT_FILL,
    ) -> None:
        if not (math.isfinite(zoom) and zoom > 0):
            raise ValueError(f"zoom must be a positive number, got {zoom}")
        if not math.isfinite(rotate_deg):
            raise ValueError(f"rotate_deg must be finite, got {rotate_deg}")
        self.rotate_deg = float(rotate_deg)
        self.zoom = float(zoom)
        self.translate = (float(translate[0]), float(translate[1]))
        self.fill = fill

    def __repr__(self) -> str:
        return f"Affine(rotate_deg={self.rotate_deg}, zoom={self.zoom}, translate={self.translate})"

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        h, w = in_hw
        rad = math.radians(self.rotate_deg)
        centre = ((w - 1) / 2.0, (h - 1) / 2.0)
        m = translation(*self.translate) @ rotation_zoom_about(centre, rad, self.zoom)
        updates = (partial(angle_after_rotation, rotate_rad=rad),) if rad else ()
        return WarpPlan(m, in_hw, in_hw, zoom=self.zoom, angle_updates=updates)
