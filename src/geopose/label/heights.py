"""Heights above ground on an image's ground grid, from an nDSM or a DSM and a DTM.

The elevation rasters may have any CRS, resolution and extent: rasterio (GDAL warp)
reprojects each to the target grid. Heights are metres; no-data (the file's no-data
value, non-finite values, and anything outside the raster) becomes NaN. Heights below
ground (lidar noise, DSM − DTM < 0) are clipped to 0.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import array_bounds
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from geopose.errors import DataError
from geopose.label.grid import GroundGrid

#: Resampling methods offered for elevation rasters (names of rasterio's enum).
RESAMPLING = ("nearest", "bilinear", "cubic", "average", "max")


def reproject_raster(
    path: str | Path, grid: GroundGrid, resampling: str = "nearest"
) -> NDArray[np.float32]:
    """Band 1 of a georeferenced raster on ``grid`` as float32 with NaN for no data."""
    p = Path(path)
    if resampling not in RESAMPLING:
        raise ValueError(f"resampling must be one of {', '.join(RESAMPLING)}, got {resampling!r}")
    if not p.exists():
        raise DataError(p, "file not found")
    out = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as ds:
                if ds.crs is None or ds.transform.is_identity:
                    raise DataError(p, "elevation raster has no CRS or transform")
                window = _covering_window(ds, grid)
                if window is None:
                    return out  # the raster does not reach the grid: all no data
                data = ds.read(1, window=window, masked=True)
                src = np.ma.filled(data.astype(np.float32), np.nan)
                src[~np.isfinite(src)] = np.nan
                reproject(
                    source=src, destination=out,
                    src_transform=ds.window_transform(window), src_crs=ds.crs, src_nodata=np.nan,
                    dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=np.nan,
                    resampling=Resampling[resampling],
                )  # fmt: skip
    except RasterioError as err:
        raise DataError(p, f"cannot read or reproject: {' '.join(str(err).split())}") from None
    return out


def _covering_window(ds: Any, grid: GroundGrid) -> Window | None:
    """The window of ``ds`` (2 px margin) covering ``grid``; None when they do not meet."""
    west, south, east, north = array_bounds(grid.height, grid.width, grid.transform)
    bounds = transform_bounds(grid.crs, ds.crs, west, south, east, north, densify_pts=21)
    win = from_bounds(*bounds, transform=ds.transform)
    c0 = max(int(np.floor(min(win.col_off, win.col_off + win.width))) - 2, 0)
    r0 = max(int(np.floor(min(win.row_off, win.row_off + win.height))) - 2, 0)
    c1 = min(int(np.ceil(max(win.col_off, win.col_off + win.width))) + 2, ds.width)
    r1 = min(int(np.ceil(max(win.row_off, win.row_off + win.height))) + 2, ds.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def heights_on_grid(
    grid: GroundGrid,
    *,
    ndsm: str | Path | None = None,
    dsm: str | Path | None = None,
    dtm: str | Path | None = None,
    resampling: str = "nearest",
) -> NDArray[np.float32]:
    """Height above ground (m, NaN = no data) on ``grid``: the nDSM, or DSM − DTM."""
    if (ndsm is None) == (dsm is None and dtm is None) or (dsm is None) != (dtm is None):
        raise ValueError("give either an nDSM or both a DSM and a DTM")
    if ndsm is not None:
        h = reproject_raster(ndsm, grid, resampling)
    elif dsm is not None and dtm is not None:
        h = reproject_raster(dsm, grid, resampling) - reproject_raster(dtm, grid, resampling)
    else:  # unreachable: checked above
        raise ValueError("give either an nDSM or both a DSM and a DTM")
    np.maximum(h, 0.0, out=h, where=np.isfinite(h))
    return h
