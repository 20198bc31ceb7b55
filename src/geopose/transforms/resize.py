"""Resize a sample keeping its aspect ratio, so GSD stays one number."""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from geopose.transforms._sample import Sample, check_pixel_shapes, image_hw
from geopose.transforms.base import GeometricTransform
from geopose.transforms.plan import WarpPlan, scaling_half_pixel
from geopose.transforms.warp import update_labels


class Resize(GeometricTransform):
    """Resize to ``height`` × ``width`` pixels. Zooming by ``z`` = new size / old size
    gives gsd' = gsd / z (m/px), scale' = scale · z (px/m); AGL values (m) unchanged.

    The request must keep the aspect ratio: it may differ from the exact proportional
    size by at most one pixel (rounding), else ValueError. The label zoom is then the
    geometric mean of the two axes' factors. Standalone calls use ``cv2.resize``
    (area-averaging when shrinking, bilinear when enlarging); AGL is averaged over valid
    values only and is no-data wherever a contributing source pixel is no-data.
    """

    def __init__(self, height: int, width: int) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"resize target must be at least 1×1 pixels, got {height}×{width}")
        self.height, self.width = int(height), int(width)

    def __repr__(self) -> str:
        return f"Resize(height={self.height}, width={self.width})"

    def factors(self, in_hw: tuple[int, int]) -> tuple[float, float]:
        """(zoom_x, zoom_y) for an ``in_hw`` input; ValueError if the aspect would change."""
        h, w = in_hw
        zoom_x, zoom_y = self.width / w, self.height / h
        if abs(w * zoom_y - self.width) > 1.0 and abs(h * zoom_x - self.height) > 1.0:
            raise ValueError(
                f"resizing {h}×{w} to {self.height}×{self.width} pixels would distort the "
                "image (GSD must stay one number); keep the aspect ratio"
            )
        return zoom_x, zoom_y

    def plan(self, in_hw: tuple[int, int]) -> WarpPlan:
        zoom_x, zoom_y = self.factors(in_hw)
        m = scaling_half_pixel(zoom_x, zoom_y)
        return WarpPlan(m, in_hw, (self.height, self.width), zoom=math.sqrt(zoom_x * zoom_y))

    def __call__(self, sample: Sample) -> Sample:
        check_pixel_shapes(sample)
        plan = self.plan(image_hw(sample))
        out = dict(sample)
        size = (self.width, self.height)
        shrink = plan.zoom < 1.0
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        if "image" in sample:
            out["image"] = cv2.resize(np.asarray(sample["image"]), size, interpolation=interp)
        if "agl" in sample:
            out["agl"] = _resize_agl(np.asarray(sample["agl"], dtype=np.float32), size, interp)
        return update_labels(out, plan)


def _resize_agl(
    agl: NDArray[np.float32], size: tuple[int, int], interp: int
) -> NDArray[np.float32]:
    """Resize AGL (m) with the same weights for values and a no-data indicator."""
    invalid = ~np.isfinite(agl)
    pair = np.empty((*agl.shape, 2), dtype=np.float32)
    pair[..., 0] = agl
    pair[..., 0][invalid] = 0.0
    pair[..., 1] = invalid
    resized = cv2.resize(pair, size, interpolation=interp)
    result: NDArray[np.float32] = np.array(resized[..., 0], dtype=np.float32)
    result[resized[..., 1] > 0.0] = np.nan
    return result
