"""The ground grid of a georeferenced image: its pixels, CRS and the local metric frame.

An orthorectified image (the competition's tiles, a GeoTIFF from any ortho workflow)
maps each pixel to the ground point it shows at ground level through its CRS and affine
transform. :class:`GroundGrid` holds that mapping and measures, at the image centre,
how many pixels one metre east and one metre north on the ground (WGS84 ellipsoid) are
— the Jacobian that turns a view direction on the ground into a flow direction in the
image, whatever the CRS (projected or geographic), the pixel size or the grid rotation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine
from rasterio.warp import transform as warp_transform

from geopose.errors import DataError
from geopose.io.raster import GeoInfo

WGS84 = CRS.from_epsg(4326)
_A = 6378137.0  # WGS84 semi-major axis (m)
_E2 = 6.69437999014e-3  # WGS84 first eccentricity squared
#: Ground step (m) used to measure the local pixels-per-metre Jacobian.
_STEP_M = 10.0


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    """(metres per degree of longitude, of latitude) on the WGS84 ellipsoid at ``lat_deg``."""
    phi = math.radians(lat_deg)
    w = math.sqrt(1.0 - _E2 * math.sin(phi) ** 2)
    north = _A * (1.0 - _E2) / w**3  # meridian radius of curvature
    east = _A / w  # prime vertical radius of curvature
    return math.radians(1.0) * east * math.cos(phi), math.radians(1.0) * north


@dataclass(frozen=True)
class GroundGrid:
    """A pixel grid on the ground: ``height``×``width`` pixels, CRS and affine transform.

    Pixel ``(row, col)`` covers the ground square whose top-left corner is
    ``transform * (col, row)`` in CRS units.
    """

    crs: CRS
    transform: Affine
    height: int
    width: int

    @classmethod
    def of_raster(cls, path: str | Path) -> GroundGrid:
        """The grid of a raster; :class:`DataError` naming it when it has no CRS or transform."""
        p = Path(path)
        ds = _open(p)
        with ds:
            if ds.crs is None or ds.transform.is_identity:
                raise DataError(
                    p,
                    "the image has no ground grid (CRS and transform); orthorectify it first "
                    "(e.g. gdalwarp -rpc -to RPC_DEM=dtm.tif raw.tif ortho.tif)",
                )
            return cls(ds.crs, ds.transform, int(ds.height), int(ds.width))

    @property
    def geo(self) -> GeoInfo:
        """The grid's georeferencing as :class:`~geopose.io.raster.GeoInfo` (for writers)."""
        t = self.transform
        return GeoInfo(crs=self.crs.to_wkt(), transform=(t.a, t.b, t.c, t.d, t.e, t.f))

    def padded(self, top: int, bottom: int, left: int, right: int) -> GroundGrid:
        """The same grid grown by whole pixels on each side."""
        shifted = self.transform @ Affine.translation(-left, -top)
        return GroundGrid(self.crs, shifted, self.height + top + bottom, self.width + left + right)

    def centre_lonlat(self) -> tuple[float, float]:
        """Longitude and latitude (degrees, WGS84) of the grid's centre."""
        x, y = self.transform @ (self.width / 2.0, self.height / 2.0)
        lon, lat = warp_transform(self.crs, WGS84, [x], [y])
        return float(lon[0]), float(lat[0])

    def lonlat_to_pixel(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """N×2 (col, row) fractional pixel coordinates of WGS84 points (degrees)."""
        xs, ys = warp_transform(WGS84, self.crs, list(map(float, lon)), list(map(float, lat)))
        inverse = ~self.transform
        cols, rows = inverse @ (np.asarray(xs), np.asarray(ys))
        return np.stack([np.asarray(cols, float), np.asarray(rows, float)], axis=-1)

    def pixels_per_metre(self) -> NDArray[np.float64]:
        """2×2 Jacobian at the centre: column ``j`` is the (col, row) pixel step of one
        metre east (``j = 0``) and one metre north (``j = 1``) on the ground."""
        lon, lat = self.centre_lonlat()
        m_lon, m_lat = metres_per_degree(lat)
        d_lon, d_lat = _STEP_M / m_lon, _STEP_M / m_lat
        pts = self.lonlat_to_pixel(
            np.array([lon, lon + d_lon, lon]), np.array([lat, lat, lat + d_lat])
        )
        jac = np.stack([pts[1] - pts[0], pts[2] - pts[0]], axis=1) / _STEP_M
        if not np.all(np.isfinite(jac)) or abs(np.linalg.det(jac)) < 1e-12:
            raise ValueError(f"cannot measure the ground grid of CRS {self.crs}")
        return jac

    @property
    def gsd(self) -> float:
        """Ground sample distance in metres per pixel (geometric mean of the two axes)."""
        return float(1.0 / math.sqrt(abs(np.linalg.det(self.pixels_per_metre()))))


def _open(path: Path) -> Any:
    if not path.exists():
        raise DataError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioError as err:
        raise DataError(path, f"cannot open raster: {' '.join(str(err).split())}") from None
