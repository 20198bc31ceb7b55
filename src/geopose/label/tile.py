"""One image's labels: resolve its view, reproject its heights, apply the ray rule."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.rpc import RPC

from geopose.errors import DataError
from geopose.label.grid import GroundGrid
from geopose.label.heights import heights_on_grid
from geopose.label.make import label_agl
from geopose.label.view import ImageView, view_from_angles, view_from_rpc, view_from_worldview

#: ``--view`` value that asks for the image's own RPC model.
VIEW_RPC = "rpc"


@dataclass(frozen=True)
class TileLabel:
    """AGL (float32 m, NaN = no data, image grid), the view, and the image's ground grid."""

    agl: NDArray[np.float32]
    view: ImageView
    grid: GroundGrid


def image_rpcs(path: Path) -> RPC | None:
    """The RPC model rasterio finds for an image (tags, ``.RPB``, ``_RPC.TXT``), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                return ds.rpcs
    except RasterioError as err:
        raise DataError(path, f"cannot open raster: {' '.join(str(err).split())}") from None


def resolve_view(
    grid: GroundGrid,
    image: Path,
    *,
    elevation: float | None = None,
    azimuth: float | None = None,
    view: str | Path | None = None,
) -> ImageView:
    """The view from the angles (degrees), a WorldView ``.IMD``/``.XML`` file, or ``"rpc"``."""
    if (elevation is None) != (azimuth is None):
        raise ValueError("give both the satellite elevation and azimuth")
    if (elevation is None) == (view is None):
        raise ValueError("give either the satellite elevation and azimuth or a view source")
    if elevation is not None and azimuth is not None:
        return view_from_angles(grid, elevation, azimuth, "flags (--elevation, --azimuth)")
    if str(view).lower() == VIEW_RPC:
        rpcs = image_rpcs(image)
        if rpcs is None:
            raise DataError(image, "the image carries no RPC model (tags, .RPB or _RPC.TXT)")
        try:
            return view_from_rpc(grid, rpcs, image.name)
        except (ValueError, RasterioError) as err:
            raise DataError(image, f"cannot use its RPC model: {err}") from None
    return view_from_worldview(grid, Path(str(view)))


def label_image(
    image: str | Path,
    *,
    ndsm: str | Path | None = None,
    dsm: str | Path | None = None,
    dtm: str | Path | None = None,
    elevation: float | None = None,
    azimuth: float | None = None,
    view: str | Path | None = None,
    resampling: str = "nearest",
) -> TileLabel:
    """Labels of the georeferenced ``image`` from elevation rasters and its view.

    Heights: an nDSM, or a DSM and a DTM (any CRS, resolution, extent; metres). View:
    satellite ``elevation`` and ``azimuth`` in degrees, or ``view`` = a WorldView
    metadata file or ``"rpc"`` for the image's RPC model.
    """
    path = Path(image)
    grid = GroundGrid.of_raster(path)
    the_view = resolve_view(grid, path, elevation=elevation, azimuth=azimuth, view=view)
    source = partial(heights_on_grid, ndsm=ndsm, dsm=dsm, dtm=dtm, resampling=resampling)
    agl = label_agl(grid, the_view.scale, the_view.angle, source)
    return TileLabel(agl, the_view, grid)
