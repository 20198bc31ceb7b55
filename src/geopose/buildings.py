"""Per-building height statistics from an AGL map and footprint polygons.

Footprints are ground outlines; in an oblique image a roof is displaced from its
footprint by its vertical flow. The AGL map is therefore first rectified to ground level
(:func:`geopose.rectification.rectify`: every pixel moved by ``agl · scale · d``, the taller
point winning), so the heights inside a footprint are the heights of what stands on it.

For each footprint (any CRS; reprojected to the AGL grid's CRS) the pixels whose centres
fall inside it (all touched pixels for footprints smaller than a pixel centre) give:
``pixels`` (count), ``valid_fraction`` (share with a height; occluded or no-data ground
has none), and over the valid ones ``height_median_m``, ``height_p90_m``,
``height_max_m`` (metres; empty when none is valid).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.features import bounds as geometry_bounds
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import transform_geom

from geopose.io.footprints import Footprint
from geopose.rectification import rectify

#: Names of the statistics added to each footprint's attributes, in output order.
STAT_FIELDS = ("pixels", "valid_fraction", "height_median_m", "height_p90_m", "height_max_m")


def ground_agl(agl: NDArray[np.floating], scale: float, angle: float) -> NDArray[np.float32]:
    """AGL moved to ground level (m, NaN where occluded or no data), same grid."""
    heights = np.asarray(agl, dtype=np.float32)
    return rectify(heights, heights, scale, angle).agl


def footprint_mask(
    geometry: Mapping[str, Any], transform: Affine, shape: tuple[int, int]
) -> tuple[tuple[slice, slice], NDArray[np.bool_]] | None:
    """(window slices, mask) of the pixels a geometry (in the grid's CRS) covers; None when
    it misses the grid. Pixel centres inside count; a footprint that holds no pixel
    centre gets the pixels it touches."""
    west, south, east, north = geometry_bounds(geometry)
    inverse = ~transform
    corners = [inverse @ (x, y) for x in (west, east) for y in (south, north)]
    cols = [c for c, _ in corners]
    rows = [r for _, r in corners]
    c0, c1 = max(math.floor(min(cols)) - 1, 0), min(math.ceil(max(cols)) + 1, shape[1])
    r0, r1 = max(math.floor(min(rows)) - 1, 0), min(math.ceil(max(rows)) + 1, shape[0])
    if c1 <= c0 or r1 <= r0:
        return None
    window_transform = transform @ Affine.translation(c0, r0)
    out_shape = (r1 - r0, c1 - c0)
    for touched in (False, True):
        mask = rasterize([(geometry, 1)], out_shape=out_shape, transform=window_transform,
                         fill=0, all_touched=touched, dtype="uint8").astype(bool)  # fmt: skip
        if mask.any():
            return (slice(r0, r1), slice(c0, c1)), mask
    return None


def height_stats(values: NDArray[np.floating]) -> dict[str, float | int | None]:
    """The statistics of :data:`STAT_FIELDS` over the heights of one footprint (m, NaN)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    good = v[np.isfinite(v)]
    stats: dict[str, float | int | None] = {
        "pixels": int(v.size),
        "valid_fraction": float(good.size / v.size) if v.size else 0.0,
        "height_median_m": None,
        "height_p90_m": None,
        "height_max_m": None,
    }
    if good.size:
        stats["height_median_m"] = round(float(np.median(good)), 3)
        stats["height_p90_m"] = round(float(np.percentile(good, 90)), 3)
        stats["height_max_m"] = round(float(good.max()), 3)
    return stats


def building_heights(
    ground: NDArray[np.floating],
    transform: Affine,
    crs: CRS,
    footprints: Sequence[Footprint],
    footprint_crs: CRS,
) -> list[dict[str, float | int | None]]:
    """Statistics per footprint of the ground-level AGL ``ground`` (m, NaN = no data) on
    the grid (``transform``, ``crs``); footprints outside the grid get ``pixels`` 0."""
    shape = (int(ground.shape[0]), int(ground.shape[1]))
    out = []
    for fp in footprints:
        geometry = fp.geometry
        if footprint_crs != crs:
            geometry = transform_geom(footprint_crs, crs, geometry)
        found = footprint_mask(geometry, transform, shape)
        if found is None:
            out.append(height_stats(np.empty(0)))
            continue
        window, mask = found
        out.append(height_stats(np.asarray(ground[window])[mask]))
    return out
