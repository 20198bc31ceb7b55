"""The RGB image of a rendered view: materials, sun shading, cast shadows, facades, sensor.

Top surfaces (ground, roofs, crowns) get an albedo from their material with metre-scaled
texture, Lambert shading by their slope towards the sun, and sky light only where
:func:`~geopose.data.synth.raytrace.shadow_height` says they are in shadow. Each image
pixel then shows the surface point found by the ray tracer: the top of its footprint
cell, or a facade whose brightness follows the wall's orientation to the sun, with rows
of windows for multi-storey buildings. Mild blur, sensor noise and optional haze finish
the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from geopose.data.synth.rasterize import Raster
from geopose.data.synth.scene import CONCRETE, LAWN, OPEN, PARKING, ROAD

SKY = np.array([0.34, 0.37, 0.45], np.float32)  # diffuse light in shadow
SUN = np.array([1.00, 0.96, 0.88], np.float32)  # direct light
_GROUND = {
    ROAD: (0.25, 0.25, 0.26),
    CONCRETE: (0.58, 0.57, 0.53),
    PARKING: (0.32, 0.32, 0.33),
    LAWN: (0.27, 0.37, 0.17),
}
_SOIL = (0.47, 0.40, 0.30)
_SOIL_CLASS = 7  # open ground that is not grass
_N_COVERS = 8  # material indices reserved for ground covers
_LEVELS = 4096  # linear levels quantised before the gamma lookup
_GAMMA = (np.sqrt(np.arange(_LEVELS) / (_LEVELS - 1)) * 255 + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class Sun:
    """Sun direction: azimuth towards the sun (rad, flow-angle convention), elevation (rad)."""

    azimuth: float
    elevation: float

    def vector(self) -> NDArray[np.float32]:
        """Unit vector towards the sun in (column, row, up) axes."""
        c = math.cos(self.elevation)
        return np.array(
            [c * math.sin(self.azimuth), c * math.cos(self.azimuth), math.sin(self.elevation)],
            np.float32,
        )


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell_px: float
) -> NDArray[np.float32]:
    """Zero-mean noise of about unit spread varying over ``cell_px`` pixels (bicubic)."""
    rows, cols = shape
    step = max(float(cell_px), 1.0)
    small = rng.standard_normal((math.ceil(rows / step) + 2, math.ceil(cols / step) + 2))
    size = (math.ceil(small.shape[1] * step), math.ceil(small.shape[0] * step))
    big = cv2.resize(small.astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(big[:rows, :cols])


def top_albedo(
    r: Raster,
    buildings: NDArray[np.float64],
    trees: NDArray[np.float64],
    lawn: float,
    rng: np.random.Generator,
) -> NDArray[np.float32]:
    """H×W×3 reflectance (0–1) of the top surface of every window cell."""
    shape = r.height.shape
    metre = 1.0 / r.gsd
    patches = smooth_noise(rng, shape, 12 * metre)
    grain = (
        smooth_noise(rng, shape, 1.2 * metre) * 0.5
        + rng.standard_normal(shape, dtype=np.float32) * 0.5
    )
    # One material index per cell: ground covers, then each building's roof, then each tree.
    n_b, n_t = len(buildings), len(trees)
    cover = r.ground.astype(np.int32)
    open_ = cover == OPEN
    cover[open_ & (patches > (lawn - 0.5) * -2.0)] = LAWN  # about `lawn` of open ground
    cover[open_ & (cover == OPEN)] = _SOIL_CLASS
    index = np.where(r.building > 0, r.building + (_N_COVERS - 1), cover)
    index = np.where(r.tree > 0, r.tree + (_N_COVERS + n_b - 1), index)
    palette = np.zeros((_N_COVERS + n_b + n_t, 3), np.float32)
    for cls, rgb in {**_GROUND, _SOIL_CLASS: _SOIL}.items():
        palette[cls] = rgb
    palette[_N_COVERS : _N_COVERS + n_b] = buildings[:, 7:10] if n_b else 0
    palette[_N_COVERS + n_b :] = trees[:, 4:7] if n_t else 0
    amp_patch = np.zeros(len(palette), np.float32)
    amp_patch[:_N_COVERS] = 0.07
    amp_grain = np.full(len(palette), 0.06, np.float32)
    amp_grain[_N_COVERS : _N_COVERS + n_b] = 0.04  # roofs: fine texture only
    amp_grain[_N_COVERS + n_b :] = 0.25  # crowns: leafy
    texture = 1.0 + amp_patch[index] * patches + amp_grain[index] * grain
    out = palette[index]
    out *= texture[..., None]
    return out


def top_light(r: Raster, shade: NDArray[np.float32], sun: Sun) -> NDArray[np.float32]:
    """H×W×3 illumination of top surfaces: slope-dependent sun unless shadowed, plus sky."""
    gy, gx = np.gradient(r.height / np.float32(r.gsd))
    steep = np.hypot(gx, gy) > 2.5  # walls between cells: treat as flat
    gx[steep] = 0
    gy[steep] = 0
    s = sun.vector()
    lambert = (-gx * s[0] - gy * s[1] + s[2]) / np.sqrt(1 + gx * gx + gy * gy)
    hard = (shade <= r.height + 0.05).astype(np.float32)
    lit = np.asarray(cv2.GaussianBlur(hard, (0, 0), 0.7), np.float32)  # penumbra
    direct = np.clip(lambert, 0, None) * lit
    return SKY[None, None, :] + direct[..., None] * SUN[None, None, :]


def facades(
    r: Raster,
    buildings: NDArray[np.float64],
    foot: NDArray[np.int64],
    z: NDArray[np.float32],
    shade: NDArray[np.float32],
    sun: Sun,
) -> NDArray[np.float32]:
    """Colours (N×3) of facade points at window cells ``foot`` (flat) and heights ``z`` (m)."""
    bid = r.building.ravel()[foot] - 1
    has = bid >= 0
    wall = np.full((foot.size, 3), 0.5, np.float32)
    wall[has] = buildings[bid[has], 10:13]
    mask = cv2.GaussianBlur((r.building > 0).astype(np.float32), (0, 0), 1.2)
    gy, gx = np.gradient(mask)
    nx, ny = -gx.ravel()[foot], -gy.ravel()[foot]
    norm = np.hypot(nx, ny) + 1e-6
    nx, ny = nx / norm, ny / norm
    s = sun.vector()
    lit = z >= shade.ravel()[foot]
    direct = np.clip(nx * s[0] + ny * s[1], 0, None) * lit
    light = SKY[None, :] * 0.9 + direct[:, None] * SUN[None, :]
    colour = wall * light
    storey = np.where(has, buildings[np.maximum(bid, 0), 13], 0.0)
    rows, cols = divmod(foot, r.building.shape[1])
    along = ((cols * -ny + rows * nx) * r.gsd) / 2.7
    floor = np.divmod(z / np.maximum(storey, 1e-3), 1.0)[1]
    window = (storey > 0) & (floor > 0.35) & (floor < 0.8) & (np.divmod(along, 1.0)[1] < 0.55)
    colour[window] = colour[window] * 0.35 + np.array([0.05, 0.07, 0.10], np.float32)
    return colour


def finish(rgb: NDArray[np.float32], rng: np.random.Generator, haze: float) -> NDArray[np.uint8]:
    """Haze (0–1 mix towards bright sky), mild optical blur and sensor noise → uint8 RGB."""
    if haze > 0:
        rgb = rgb * (1 - haze) + haze * np.array([0.78, 0.8, 0.84], np.float32)
    rgb = np.asarray(cv2.GaussianBlur(rgb, (0, 0), 0.6), np.float32)
    noise = rng.standard_normal(rgb.shape[:2], dtype=np.float32) * np.float32(0.012)
    rgb += noise[..., None]  # luminance noise
    np.clip(rgb, 0, 1, out=rgb)
    rgb *= np.float32(_LEVELS - 1)
    return _GAMMA[rgb.astype(np.uint16)]  # display gamma through a lookup table
