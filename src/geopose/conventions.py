"""Units, the angle convention, flow maths and no-data handling (DESIGN.md §1).

This module is the single source of truth for conventions; every other part of
geopose converts through it.

Image axes: ``x`` is the column (right), ``y`` the row (down). The vertical-flow
direction of an image with angle ``theta`` (radians) is ``d = (dx, dy) = (sin θ, cos θ)``
in (column, row) pixels: θ = 0 points down the image, θ = π/2 points right. The flow at
a pixel is ``v = agl · scale · d`` (pixels): it maps the imaged point to its ground
footprint.

θ → (dx, dy) has three forms, one per kind of caller: :func:`angle_to_direction` for a
scalar or a numpy array, and
:func:`angle_to_direction_torch` for tensors; (dx, dy) → θ is :func:`direction_to_angle`
(the tensor twin, for model outputs, is ``geopose.models.direction.direction_to_angle``).
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

TWO_PI = 2.0 * math.pi

#: No-data sentinel of AGL files (uint16 centimetres). Exists only on disk.
AGL_NODATA = 65535
#: Largest valid AGL value a uint16 centimetre file can hold (cm).
AGL_MAX_CM = 65534
#: Centimetres per metre.
CM_PER_M = 100.0


# ----------------------------------------------------------------------------- units
def agl_cm_to_m(agl_cm: ArrayLike) -> NDArray[np.float32]:
    """Convert a uint16 centimetre AGL raster (65535 = no data) to float32 metres, NaN = no data."""
    raw = np.asarray(agl_cm)
    out = raw.astype(np.float32) / np.float32(CM_PER_M)
    out[raw == AGL_NODATA] = np.nan
    return out


def agl_m_to_cm(agl_m: ArrayLike) -> NDArray[np.uint16]:
    """Convert float metres (NaN = no data) to uint16 centimetres for files.

    Values are rounded to the nearest centimetre and clipped to [0, 65534]; NaN (and
    any non-finite value) becomes the sentinel 65535.
    """
    m = np.asarray(agl_m, dtype=np.float64)
    finite = np.isfinite(m)
    cm = np.rint(np.where(finite, m, 0.0) * CM_PER_M)
    out = np.clip(cm, 0, AGL_MAX_CM).astype(np.uint16)
    out[~finite] = AGL_NODATA
    return out


def scale_from_file(scale_px_per_cm: float) -> float:
    """Scale as stored in ``*_VFLOW.json`` (pixels per cm) → pixels per metre."""
    return float(scale_px_per_cm) * CM_PER_M


def scale_to_file(scale_px_per_m: float) -> float:
    """Scale in pixels per metre → pixels per cm, the unit of ``*_VFLOW.json``."""
    return float(scale_px_per_m) / CM_PER_M


def scale_from_elevation(elevation_rad: float, gsd: float) -> float:
    """Scale (px/m) of a view at satellite elevation (rad) and ground sample distance (m/px).

    A point ``h`` metres high leans ``h · cot(elevation)`` metres on the ground, which is
    ``h · cot(elevation) / gsd`` pixels.
    """
    return 1.0 / (math.tan(elevation_rad) * gsd)


def elevation_from_scale(scale: float, gsd: float) -> float:
    """Inverse of :func:`scale_from_elevation`: satellite elevation in radians."""
    return math.atan2(1.0, scale * gsd)


# ----------------------------------------------------------------------------- angles
@overload
def wrap_angle(theta: float) -> float: ...
@overload
def wrap_angle(theta: NDArray[np.floating]) -> NDArray[np.float64]: ...
def wrap_angle(theta: float | NDArray[np.floating]) -> float | NDArray[np.float64]:
    """Wrap radians into [0, 2π); a float stays a float, an array stays an array."""
    wrapped = np.mod(np.asarray(theta, dtype=np.float64), TWO_PI)
    # np.mod can return exactly 2π for tiny negative inputs because of rounding.
    wrapped = np.where(wrapped >= TWO_PI, 0.0, wrapped)
    if np.ndim(wrapped) == 0:
        return float(wrapped)
    return wrapped


def angle_to_direction(theta: ArrayLike) -> NDArray[np.float64]:
    """Unit direction ``(dx, dy) = (sin θ, cos θ)`` of angles in radians; the last axis
    holds (dx, dy). A scalar angle is computed with :mod:`math` (correctly rounded, so
    scalar callers such as the metric stay bit-stable), arrays with numpy."""
    if np.ndim(theta) == 0:
        t = float(np.asarray(theta))
        return np.array([math.sin(t), math.cos(t)])
    a = np.asarray(theta, dtype=np.float64)
    return np.stack([np.sin(a), np.cos(a)], axis=-1)


def angle_to_direction_torch(theta: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Unit directions ``(dx, dy) = (sin θ, cos θ)`` of a tensor of angles (radians),
    stacked along a new axis ``dim`` (B angles → B×2 with ``dim=1``)."""
    return torch.stack([torch.sin(theta), torch.cos(theta)], dim=dim)


@overload
def direction_to_angle(dx: float, dy: float) -> float: ...
@overload
def direction_to_angle(
    dx: NDArray[np.floating], dy: NDArray[np.floating]
) -> NDArray[np.float64]: ...
def direction_to_angle(
    dx: float | NDArray[np.floating], dy: float | NDArray[np.floating]
) -> float | NDArray[np.float64]:
    """Angle in [0, 2π) of the direction (dx, dy); the vector need not be unit length."""
    angle = np.arctan2(np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64))
    if np.ndim(angle) == 0:
        return wrap_angle(float(angle))
    return wrap_angle(angle)


def angle_difference(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Smallest absolute difference between two angles, radians in [0, π]."""
    d = np.mod(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), TWO_PI)
    return np.minimum(d, TWO_PI - d)


# ----------------------------------------------------------------------------- flow
def magnitude(agl: ArrayLike, scale: float) -> NDArray[np.float32]:
    """Flow magnitude (pixels) of an AGL map (metres) at ``scale`` px/m; NaN stays NaN."""
    return (np.asarray(agl, dtype=np.float32) * np.float32(scale)).astype(np.float32)


def flow_field(agl: ArrayLike, scale: float, theta: float) -> NDArray[np.float32]:
    """Vertical flow ``v = agl · scale · d`` as an H×W×2 array of (dx, dy) pixels.

    Channel 0 is the column (x) component ``mag · sin θ``, channel 1 the row (y)
    component ``mag · cos θ`` — the official baseline's ``get_vflow``.
    """
    mag = magnitude(agl, scale)
    dx, dy = angle_to_direction(float(theta))
    return np.stack([mag * np.float32(dx), mag * np.float32(dy)], -1)


# -------------------------------------------------------------- label transforms
# How image-geometry changes act on the image-level labels (DESIGN.md §1). Pixel data
# moves with numpy / OpenCV; these functions move the angle and scale with it.
def angle_after_rot90(theta: float, k: int) -> float:
    """Angle after ``np.rot90(image, k)`` (counter-clockwise quarter turns)."""
    return float(wrap_angle(theta + k * math.pi / 2))


def angle_after_transpose(theta: float) -> float:
    """Angle after transposing the image: (dx, dy) → (dy, dx), so θ → π/2 − θ."""
    return float(wrap_angle(math.pi / 2 - theta))


def angle_after_hflip(theta: float) -> float:
    """Angle after a left-right flip: dx → −dx, so θ → −θ."""
    return float(wrap_angle(-theta))


def angle_after_vflip(theta: float) -> float:
    """Angle after an up-down flip: dy → −dy, so θ → π − θ."""
    return float(wrap_angle(math.pi - theta))


def angle_after_rotation(theta: float, rotate_rad: float) -> float:
    """Angle after rotating the image counter-clockwise on screen by ``rotate_rad``."""
    return float(wrap_angle(theta + rotate_rad))


def labels_after_zoom(gsd: float, scale: float, zoom: float) -> tuple[float, float]:
    """(gsd, scale) after zooming so content appears ``zoom`` times larger.

    Each pixel now covers ``1/zoom`` of the ground it did (gsd / zoom) and one metre of
    height leans ``zoom`` times more pixels (scale · zoom). AGL values do not change.
    """
    if not zoom > 0:
        raise ValueError(f"zoom must be positive, got {zoom}")
    return gsd / zoom, scale * zoom


# ----------------------------------------------------------------------------- no-data
def valid_mask(agl: ArrayLike) -> NDArray[np.bool_]:
    """True where a float AGL map (metres) holds data, i.e. is finite."""
    return np.isfinite(np.asarray(agl))


def fill_nodata(
    agl: ArrayLike, value: float = 0.0
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Split a NaN-coded AGL map into (values with no-data set to ``value``, valid mask).

    This is the tensor convention: NaN never travels beside a loss or a gradient.
    """
    a = np.asarray(agl, dtype=np.float32)
    valid = np.isfinite(a)
    return np.where(valid, a, np.float32(value)).astype(np.float32), valid


def apply_nodata(agl: ArrayLike, valid: ArrayLike) -> NDArray[np.float32]:
    """Inverse of :func:`fill_nodata`: NaN wherever ``valid`` is False."""
    a = np.array(agl, dtype=np.float32, copy=True)
    a[~np.asarray(valid, dtype=bool)] = np.nan
    return a
