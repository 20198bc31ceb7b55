"""What a synthetic tile is made from, for checking labels made from elevation data.

:class:`SynthTruth` holds a tile's orthographic height raster (the district rasterised
at the tile's GSD over the tile and every margin its rays reach), its building
footprints, and its view; :func:`tile_geo` places the district on the ground in a UTM
grid, so the tile's rasters and footprints carry a real CRS and north-up transform.

Placement: UTM zone 17 N (EPSG:32617), the district's top-left corner at easting
``500000 − extent / 2`` (the district's centre on the zone's central meridian, where
grid north is true north), northing 3 300 000 m (about 29.8° N). District ``x`` (m,
right) is easting, ``y`` (m, down) is southing. The satellite azimuth of a tile is
then ``180° − θ`` (DESIGN.md §1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geopose.data.synth.scene import Poly

#: CRS of the synthetic ground (WGS84 / UTM zone 17 N).
SYNTH_CRS = "EPSG:32617"
CENTRAL_EASTING = 500_000.0
TOP_NORTHING = 3_300_000.0


@dataclass(frozen=True)
class Footprint:
    """One building: outline and courtyard (metres, district frame) and true heights (m)."""

    ring: Poly
    hole: Poly | None
    eave: float  # m, eave height (the flat roof's height)
    rise: float  # m, ridge rise above the eave (0 = flat roof)

    @property
    def top(self) -> float:
        """Highest point of the roof (m)."""
        return self.eave + self.rise


@dataclass(frozen=True)
class SynthTruth:
    """A tile's ground truth in the district frame.

    ``height``: orthographic surface heights (float32 m, ground 0) of a window whose
    top-left corner is at ``window_origin`` (m) — it covers the tile, whose top-left
    corner is at ``tile_origin`` (m), and every cell a tile pixel's ray reaches;
    ``gsd`` m/px; ``angle`` rad and ``elevation`` rad of the view; ``extent`` m, the
    side of the district; ``footprints`` the buildings touching the window.
    """

    height: NDArray[np.float32]
    window_origin: tuple[float, float]
    tile_origin: tuple[float, float]
    gsd: float
    angle: float
    elevation: float
    extent: float
    footprints: tuple[Footprint, ...]

    @property
    def azimuth_deg(self) -> float:
        """Satellite azimuth (degrees clockwise from north) of the north-up tile: 180° − θ."""
        return (180.0 - math.degrees(self.angle)) % 360.0

    @property
    def elevation_deg(self) -> float:
        """Satellite elevation in degrees."""
        return math.degrees(self.elevation)


def tile_geo(
    origin: tuple[float, float], gsd: float, extent: float
) -> tuple[float, float, float, float, float, float]:
    """Affine transform (6 numbers, EPSG:32617) of a grid whose top-left corner is at
    ``origin`` (m, district frame) with ``gsd`` m/px, in a district ``extent`` m wide."""
    x0 = CENTRAL_EASTING - extent / 2.0 + origin[0]
    y0 = TOP_NORTHING - origin[1]
    return (gsd, 0.0, x0, 0.0, -gsd, y0)


def to_crs(points: Poly, extent: float) -> Poly:
    """District metres (x right, y down) → EPSG:32617 (easting, northing) of :func:`tile_geo`."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([CENTRAL_EASTING - extent / 2.0 + p[:, 0], TOP_NORTHING - p[:, 1]], axis=1)
