"""Apply a :class:`~geopose.transforms.plan.WarpPlan` to a sample with one warp.

Image: bilinear, area from outside the source filled with a colour. AGL: bilinear over
valid values only — an output pixel is no-data (NaN) wherever any source pixel that
contributes to it (non-zero bilinear weight) is no-data or lies outside the source.
This is done by warping the AGL (no-data set to 0) together with an "invalid" indicator
(1 where no-data, and 1 outside the source) in one call, so both see identical weights,
and marking no-data wherever the warped indicator is above 0.

Only the part of the source that the output reads is touched (a bounding box with a
margin), so a small crop out of a large tile costs in proportion to the crop.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from geopose.conventions import labels_after_zoom
from geopose.transforms._sample import Sample, check_pixel_shapes, image_hw
from geopose.transforms.plan import WarpPlan, translation

#: Default colour (RGB uint8) of image area that comes from outside the source.
DEFAULT_FILL = (0, 0, 0)
_MARGIN = 1  # extra source pixels kept around the bilinear footprint


def apply_plan(sample: Sample, plan: WarpPlan, fill: tuple[int, int, int] = DEFAULT_FILL) -> Sample:
    """Return a new sample moved by ``plan``: image, AGL and the labels gsd (m/px),
    scale (px/m) and angle (rad) stay consistent. Label keys that are absent stay absent."""
    check_pixel_shapes(sample)
    hw = image_hw(sample)
    if hw != plan.in_hw:
        raise ValueError(f"plan made for {plan.in_hw} pixels applied to a {hw} sample")
    out = dict(sample)
    if "image" in sample:
        out["image"] = warp_image(np.asarray(sample["image"]), plan, fill)
    if "agl" in sample:
        out["agl"] = warp_agl(np.asarray(sample["agl"]), plan)
    return update_labels(out, plan)


def update_labels(sample: Sample, plan: WarpPlan) -> Sample:
    """Apply the plan's label changes (angle, gsd, scale) to ``sample`` in place; return it."""
    if "angle" in sample:
        sample["angle"] = plan.new_angle(float(sample["angle"]))
    if plan.zoom != 1.0:
        has_scale = "scale" in sample
        gsd, scale = labels_after_zoom(
            float(sample["gsd"]) if "gsd" in sample else 1.0,
            float(sample["scale"]) if has_scale else 1.0,
            plan.zoom,
        )
        if "gsd" in sample:
            sample["gsd"] = gsd
        if has_scale:
            sample["scale"] = scale
    return sample


def warp_image(
    image: NDArray[np.uint8], plan: WarpPlan, fill: tuple[int, int, int] = DEFAULT_FILL
) -> NDArray[np.uint8]:
    """Warp an H×W×C image bilinearly; area from outside the source gets ``fill``.

    Whole-pixel maps (D4 elements, crops) copy pixels exactly."""
    h, w = plan.out_hw
    shifted = _slice_if_shift(image, plan)
    if shifted is not None:
        return shifted
    box = source_box(plan)
    if box is None:
        colour = np.asarray(fill, dtype=image.dtype)
        return np.broadcast_to(colour[: image.shape[2]], (h, w, image.shape[2])).copy()
    exact = is_whole_pixel(plan)
    y0, y1, x0, x1 = box
    m = (plan.matrix @ translation(x0, y0))[:2]
    border = tuple(float(v) for v in fill)
    crop = image[y0:y1, x0:x1]
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 and not exact:
        # OpenCV interpolates 4-channel uint8 faster than 3-channel, even counting the
        # conversions; the colour channels come out identical.
        rgba = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2RGBA)
        warped = _warp(rgba, m, (h, w), (*border, 0.0))
        return np.asarray(cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB), dtype=np.uint8)
    return _warp(np.ascontiguousarray(crop), m, (h, w), border, exact=exact)


def warp_agl(agl: NDArray[np.floating[Any]], plan: WarpPlan) -> NDArray[np.float32]:
    """Warp an H×W AGL map (m, NaN = no data) without mixing valid and no-data values."""
    h, w = plan.out_hw
    shifted = _slice_if_shift(np.asarray(agl, dtype=np.float32), plan)
    if shifted is not None:
        return shifted
    box = source_box(plan)
    if box is None:
        return np.full((h, w), np.nan, dtype=np.float32)
    src, m = _crop_to_box(np.asarray(agl, dtype=np.float32), plan, box)
    if is_whole_pixel(plan):  # nearest neighbour is exact here; NaN is copied as is
        return _warp(src, m, (h, w), (float("nan"),), exact=True)
    invalid = ~np.isfinite(src)
    if not invalid.any() and reads_inside(plan):
        return _warp(src, m, (h, w), (0.0,))
    np.copyto(src, np.float32(0.0), where=invalid)  # src is our own copy
    warped = _warp(src, m, (h, w), (0.0,))
    # The indicator in uint16 (65535 = invalid): the smallest bilinear weight OpenCV
    # uses (1/1024) still leaves it above 0, so every contributing pixel counts.
    indicator = np.multiply(invalid, 65535, dtype=np.uint16)
    touched = _warp(indicator, m, (h, w), (65535.0,)) > 0
    np.copyto(warped, np.float32(np.nan), where=touched)
    return warped


def is_whole_pixel(plan: WarpPlan) -> bool:
    """True if the plan sends pixel centres onto pixel centres (integer matrix)."""
    return bool(np.array_equal(plan.matrix[:2], np.round(plan.matrix[:2])))


def reads_inside(plan: WarpPlan) -> bool:
    """True if every output pixel's source position lies within the source's pixel
    centres, so bilinear interpolation never reaches outside it."""
    h, w = plan.out_hw
    src = _corner_sources(plan, h, w)
    in_h, in_w = plan.in_hw
    eps = 1e-6
    return bool(
        src[:, 0].min() >= -eps
        and src[:, 1].min() >= -eps
        and src[:, 0].max() <= in_w - 1 + eps
        and src[:, 1].max() <= in_h - 1 + eps
    )


def _corner_sources(plan: WarpPlan, h: int, w: int) -> NDArray[np.float64]:
    """Source (x, y) of the output's four corner pixel centres."""
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)
    return corners @ np.linalg.inv(plan.matrix).T


def source_box(plan: WarpPlan) -> tuple[int, int, int, int] | None:
    """Source pixels (y0, y1, x0, x1), end-exclusive, that the output can read, clipped
    to the source; None if the output reads nothing inside the source."""
    h, w = plan.out_hw
    src = _corner_sources(plan, h, w)
    x0 = max(math.floor(src[:, 0].min()) - _MARGIN, 0)
    y0 = max(math.floor(src[:, 1].min()) - _MARGIN, 0)
    x1 = min(math.floor(src[:, 0].max()) + 2 + _MARGIN, plan.in_hw[1])
    y1 = min(math.floor(src[:, 1].max()) + 2 + _MARGIN, plan.in_hw[0])
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def _crop_to_box(
    array: NDArray[Any], plan: WarpPlan, box: tuple[int, int, int, int]
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """A copy of the source cut to ``box`` and the 2×3 matrix that maps it."""
    y0, y1, x0, x1 = box
    src = np.array(array[y0:y1, x0:x1], copy=True, order="C")
    return src, (plan.matrix @ translation(x0, y0))[:2]


def _warp(
    src: NDArray[Any],
    m: NDArray[np.float64],
    out_hw: tuple[int, int],
    border: tuple[float, ...],
    exact: bool = False,
) -> NDArray[Any]:
    """cv2.warpAffine: bilinear, or nearest when ``exact`` (whole-pixel maps)."""
    h, w = out_hw
    return cv2.warpAffine(
        src,
        m,
        (w, h),
        flags=cv2.INTER_NEAREST if exact else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )


def _slice_if_shift(array: NDArray[Any], plan: WarpPlan) -> NDArray[Any] | None:
    """Exact copy for a whole-pixel translation whose output lies inside the source."""
    shift = plan.integer_shift()
    if shift is None:
        return None
    dx, dy = shift
    h, w = plan.out_hw
    top, left = -dy, -dx
    if top < 0 or left < 0 or top + h > plan.in_hw[0] or left + w > plan.in_hw[1]:
        return None
    return np.array(array[top : top + h, left : left + w], copy=True)
