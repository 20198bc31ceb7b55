"""RGB and AGL rasters: JPEG 2000, GeoTIFF and PNG through rasterio (GDAL).

In memory RGB is ``uint8`` H×W×3 in **RGB** order and AGL is ``float32`` metres with
NaN for no data (DESIGN.md §1). On disk AGL is ``uint16`` centimetres with 65535 for no
data (the competition format); float32 metre GeoTIFFs (the original US3D style) are
read when the caller says so with ``unit="m"``. A GeoTIFF written with a CRS is a
Cloud-Optimised GeoTIFF (tiled, with overviews).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import resource
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import rasterio.shutil
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from geopose.conventions import AGL_NODATA, agl_cm_to_m, agl_m_to_cm
from geopose.errors import DataError, OutputError
from geopose.io.atomic import atomic_path

RGB_SUFFIXES = (".j2k", ".jp2", ".tif", ".tiff", ".png")
_DRIVERS = {
    ".j2k": "JP2OpenJPEG",
    ".jp2": "JP2OpenJPEG",
    ".tif": "GTiff",
    ".tiff": "GTiff",
    ".png": "PNG",
}


@dataclass(frozen=True)
class GeoInfo:
    """Georeferencing of a raster: CRS (WKT, or None) and affine transform (6 numbers)."""

    crs: str | None
    transform: tuple[float, float, float, float, float, float] | None

    @property
    def is_georeferenced(self) -> bool:
        return self.crs is not None and self.transform is not None


def _open(path: Path) -> Any:
    if not path.exists():
        raise DataError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioError as err:
        raise DataError(path, f"cannot open raster: {_one_line(err)}") from None


def _one_line(err: BaseException) -> str:
    """GDAL's message in one line; the underlying error's when rasterio only says to
    "see the previous exception" (the detail a user needs is there)."""
    parts: list[str] = []
    seen: BaseException | None = err
    while seen is not None and len(parts) < 4:
        text = " ".join(str(seen).split())
        if text and "previous exception" not in text and text not in parts:
            parts.append(text)
        seen = seen.__cause__ or seen.__context__
    text = "; ".join(parts) or type(err).__name__
    return text if len(text) < 300 else text[:297] + "..."


def _read(ds: Any, path: Path, what: str, **kwargs: Any) -> NDArray[Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return ds.read(**kwargs)
    except RasterioError as err:
        raise DataError(path, f"corrupt or truncated {what}: {_one_line(err)}") from None


@dataclass(frozen=True)
class RasterInfo:
    """What a raster's header says, without decoding pixels.

    ``height``/``width`` in pixels; ``dtype`` of the first band; ``reductions`` the
    decimation factors the file can decode cheaply (JPEG 2000 resolution levels, TIFF
    overviews), smallest first.
    """

    height: int
    width: int
    count: int
    dtype: str
    driver: str
    reductions: tuple[int, ...]

    @property
    def coarsest_reduction(self) -> int:
        """Largest cheap decimation factor (1 when the file has no reduced levels)."""
        return self.reductions[-1] if self.reductions else 1


def raster_info(path: str | Path) -> RasterInfo:
    """Read a raster's header (:class:`RasterInfo`); :class:`DataError` if it cannot be opened."""
    p = Path(path)
    with _open(p) as ds:
        factors = tuple(sorted(int(f) for f in ds.overviews(1))) if ds.count else ()
        return RasterInfo(
            height=int(ds.height),
            width=int(ds.width),
            count=int(ds.count),
            dtype=str(ds.dtypes[0]) if ds.count else "",
            driver=str(ds.driver),
            reductions=tuple(f for f in factors if f > 1 and f & (f - 1) == 0),
        )


def read_geo(path: str | Path) -> GeoInfo:
    """CRS and transform of a raster (``GeoInfo(None, None)`` when it carries none)."""
    p = Path(path)
    with _open(p) as ds:
        crs = ds.crs.to_wkt() if ds.crs is not None else None
        georef = crs is not None or not ds.transform.is_identity
        transform = tuple(ds.transform)[:6] if georef else None
    return GeoInfo(crs=crs, transform=transform)


#: Largest relative difference of a pixel's two sides for :func:`read_gsd` to call it square.
SQUARE_PIXEL_TOLERANCE = 0.01


def read_gsd(path: str | Path) -> float:
    """Ground sample distance in metres per pixel, from a raster's projected CRS and
    transform.

    The pixel's side lengths come from the affine transform (rotation allowed) in the
    CRS's linear unit, converted to metres (feet CRSs too). Raises :class:`DataError`
    naming the file when the raster has no CRS or no transform, when its CRS is not
    projected (degrees are not a length), or when its pixels are not square (sides
    differing by more than 1 %): the GSD must then be given.
    """
    p = Path(path)
    with _open(p) as ds:
        crs, t = ds.crs, ds.transform
    hint = "; give the GSD in metres per pixel (--gsd / gsd=)"
    if crs is None or t.is_identity:
        raise DataError(p, f"no GSD: the raster has no CRS and transform{hint}")
    if not crs.is_projected:
        raise DataError(p, f"no GSD: its CRS is not projected (units are degrees){hint}")
    try:
        _, factor = crs.linear_units_factor
    except rasterio.errors.CRSError as err:
        raise DataError(p, f"no GSD: unknown linear unit of its CRS ({err}){hint}") from None
    x_side = math.hypot(t.a, t.d) * factor
    y_side = math.hypot(t.b, t.e) * factor
    if not (x_side > 0 and y_side > 0) or not math.isfinite(x_side + y_side):
        raise DataError(p, f"no GSD: its transform has a degenerate pixel size{hint}")
    if abs(x_side - y_side) > SQUARE_PIXEL_TOLERANCE * max(x_side, y_side):
        raise DataError(
            p, f"no GSD: its pixels are not square ({x_side:.4g} × {y_side:.4g} m){hint}"
        )
    return (x_side + y_side) / 2


def check_agl_size(
    agl_shape: tuple[int, ...], image_shape: tuple[int, ...], agl: Path, image: Path
) -> None:
    """Raise :class:`DataError` naming the AGL file ``agl`` when its H×W (``agl_shape``)
    differs from the H×W of its image ``image`` (``image_shape``, H×W[×3])."""
    ah, aw = agl_shape[:2]
    ih, iw = image_shape[:2]
    if (ah, aw) != (ih, iw):
        raise DataError(agl, f"AGL is {ah}×{aw} px but its image {image.name} is {ih}×{iw} px")


def first_georeferenced(*paths: str | Path) -> GeoInfo | None:
    """Georeferencing of the first of ``paths`` that carries any, else None."""
    for path in paths:
        geo = read_geo(path)
        if geo.is_georeferenced:
            return geo
    return None


def read_rgb(
    path: str | Path,
    *,
    reduction: int = 1,
    window: tuple[int, int, int, int] | None = None,
) -> NDArray[np.uint8]:
    """Read an RGB image as ``uint8`` H×W×3 in RGB band order.

    Args:
        path: ``.j2k``/``.jp2``, ``.tif``/``.tiff`` or ``.png`` file with 3 bands
            (a 4th alpha band is dropped) of 8-bit data.
        reduction: decode at 1/``reduction`` of the resolution (a power of two). JPEG
            2000 decodes only the needed resolution levels, which is ~100× faster than a
            full decode of a 2048² tile; used by ``geopose check``.
        window: ``(top, left, height, width)`` in full-resolution pixels: read only that
            part (JPEG 2000 decodes only the code blocks it touches).
    """
    p = Path(path)
    if reduction < 1 or reduction & (reduction - 1):
        raise ValueError(f"reduction must be a power of two ≥ 1, got {reduction}")
    with _open(p) as ds:
        if ds.count not in (3, 4):
            raise DataError(p, f"expected an RGB image with 3 bands, found {ds.count}")
        if ds.dtypes[0] != "uint8":
            raise DataError(p, f"expected 8-bit RGB, found {ds.dtypes[0]}")
        kwargs: dict[str, Any] = {"indexes": [1, 2, 3]}
        height, width = ds.height, ds.width
        if window is not None:
            top, left, height, width = window
            kwargs["window"] = Window(left, top, width, height)
        if reduction > 1:
            kwargs["out_shape"] = (3, max(1, height // reduction), max(1, width // reduction))
            kwargs["resampling"] = Resampling.nearest
        data = _read(ds, p, "image", **kwargs)
    return np.ascontiguousarray(data.transpose(1, 2, 0))


def write_rgb(
    path: str | Path,
    image: NDArray[np.uint8],
    *,
    geo: GeoInfo | None = None,
    lossless: bool = True,
) -> None:
    """Write ``uint8`` H×W×3 RGB atomically; the format follows the suffix.

    JPEG 2000 is lossless by default (what the tests and the synthetic data need);
    ``lossless=False`` writes a visually lossless ~5:1 compressed file.
    """
    p = Path(path)
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{p}: expected uint8 H×W×3 RGB, got {img.dtype} {img.shape}")
    suffix = p.suffix.lower()
    if suffix not in _DRIVERS:
        raise ValueError(f"{p}: unsupported image suffix {suffix!r} (use one of {RGB_SUFFIXES})")
    profile: dict[str, Any] = {
        "driver": _DRIVERS[suffix],
        "width": img.shape[1],
        "height": img.shape[0],
        "count": 3,
        "dtype": "uint8",
    }
    if suffix in (".j2k", ".jp2"):
        profile["QUALITY"] = "100" if lossless else "20"
        profile["REVERSIBLE"] = "YES" if lossless else "NO"
        profile["CODEC"] = "J2K" if suffix == ".j2k" else "JP2"
        profile["YCC"] = "NO"
    elif suffix in (".tif", ".tiff"):
        profile["compress"] = "deflate"
        profile["interleave"] = "pixel"
    _add_geo(profile, geo)
    _write(p, profile, img.transpose(2, 0, 1))


def read_agl(path: str | Path, *, unit: Literal["cm", "m"] = "cm") -> NDArray[np.float32]:
    """Read an AGL raster as ``float32`` metres with NaN for no data.

    Args:
        path: a single-band GeoTIFF.
        unit: ``"cm"`` (default) for the competition's ``uint16`` centimetre files with
            65535 as no data; ``"m"`` for float metre rasters (the original US3D
            style), whose no-data value (from the file, and any non-finite value)
            becomes NaN. The unit must be said: guessing it would silently turn
            centimetres into metres.
    """
    if unit == "cm":
        return agl_cm_to_m(read_agl_cm(path))
    if unit != "m":
        raise ValueError(f"unit must be 'cm' or 'm', got {unit!r}")
    p = Path(path)
    data, dtype, nodata = _read_single_band(p)
    if not dtype.startswith("float"):
        raise DataError(p, f"unit='m' expects float metres, found {dtype}")
    out = data.astype(np.float32)
    if nodata is not None and np.isfinite(nodata):
        out[data == nodata] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out


def read_agl_cm(path: str | Path) -> NDArray[np.uint16]:
    """Read a competition AGL raster as stored: ``uint16`` centimetres, 65535 = no data."""
    p = Path(path)
    data, dtype, _ = _read_single_band(p)
    if dtype != "uint16":
        hint = " (pass unit='m' for float metre rasters)" if dtype.startswith("float") else ""
        raise DataError(p, f"expected uint16 centimetres, found {dtype}{hint}")
    return data


def _read_single_band(p: Path) -> tuple[NDArray[Any], str, float | None]:
    """(pixels, dtype name, no-data value) of a one-band raster."""
    with _open(p) as ds:
        if ds.count != 1:
            raise DataError(p, f"expected a single-band AGL raster, found {ds.count} bands")
        dtype, nodata = str(ds.dtypes[0]), ds.nodata
        return _read(ds, p, "AGL raster", indexes=1), dtype, nodata


def write_agl(
    path: str | Path,
    agl: NDArray[np.floating],
    *,
    geo: GeoInfo | None = None,
    unit: Literal["cm", "m"] = "cm",
) -> None:
    """Write AGL metres (NaN = no data) as a deflate-compressed GeoTIFF.

    ``unit="cm"`` (default, the competition format): ``uint16`` centimetres, values
    rounded to the centimetre and clipped to [0, 65534]; NaN becomes 65535, which is
    also recorded as the file's no-data value. ``unit="m"``: ``float32`` metres with NaN
    as no data (what ``read_agl(..., unit="m")`` reads). ``geo`` carries the CRS and
    transform of the input raster over to the output; with a CRS the file is a
    Cloud-Optimised GeoTIFF (256-px tiles, overviews). The write is atomic.
    """
    p = Path(path)
    a = np.asarray(agl)
    if a.ndim != 2:
        raise ValueError(f"{p}: expected an H×W AGL map, got shape {a.shape}")
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": a.shape[1],
        "height": a.shape[0],
        "count": 1,
        "dtype": "uint16",
        "nodata": AGL_NODATA,
        "compress": "deflate",
    }
    _add_geo(profile, geo)
    if unit == "m":
        profile.update(dtype="float32", nodata=float("nan"))
        _write(p, profile, a.astype(np.float32)[None])
    elif unit == "cm":
        _write(p, profile, agl_m_to_cm(a)[None])
    else:
        raise ValueError(f"unit must be 'cm' or 'm', got {unit!r}")


#: Rows of a streamed AGL GeoTIFF converted to centimetres and written at a time (one
#: band of 256-px blocks).
AGL_BLOCK_ROWS = 256
#: GDAL block cache (MiB) while streaming a raster: bounds memory whatever its size.
_GDAL_CACHE_MB = 256


@contextlib.contextmanager
def agl_row_writer(
    path: str | Path,
    height: int,
    width: int,
    *,
    geo: GeoInfo | None = None,
    metres: bool = False,
) -> Iterator[Callable[[int, NDArray[np.float32]], None]]:
    """Stream an AGL GeoTIFF of any size to ``path``, rows in order.

    Yields ``write(top, rows)``: ``rows`` (K×width metres, NaN = no data) start at
    raster row ``top``; blocks of rows may have any height but must arrive in order.
    The file is what :func:`write_agl` writes (uint16 cm, 65535 no data, deflate, the
    CRS and transform of ``geo``; a Cloud-Optimised GeoTIFF when ``geo`` has a CRS),
    tiled in 256-px blocks when both sides are ≥ 256 px
    and BigTIFF when needed; it appears atomically when the ``with`` block ends without
    an error. The GDAL block cache is bounded inside the block, reads included.
    ``metres=True`` writes float32 metres with NaN no data instead (any float map: the
    AGL spread of ``predict --uncertainty``).
    """
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32" if metres else "uint16",
        "nodata": float("nan") if metres else AGL_NODATA,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    _add_geo(profile, geo)
    with (
        rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB),
        atomic_path(Path(path)) as tmp,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.open(tmp, "w", **profile) as ds:
                writer = _AlignedRowWriter(ds, width, metres)
                yield writer.write
                writer.flush()
        except RasterioError as err:  # GDAL's write errors (full disk, size limit)
            raise OutputError(path, _one_line(err)) from None
        if _georeferenced(profile):
            make_cog(tmp)
        _verify_written(tmp, Path(path), height, width)


class _AlignedRowWriter:
    """Write AGL rows (metres) to a GeoTIFF in whole :data:`AGL_BLOCK_ROWS`-row bands.

    Rows arrive in blocks of any height; full bands are converted to centimetres and
    written, the rest waits for the next block (or :meth:`flush`). Writing each
    compressed block once keeps the file free of the dead space that rewriting a block
    leaves, and keeps temporaries small.
    """

    def __init__(self, ds: Any, width: int, metres: bool = False) -> None:
        self.ds = ds
        self.width = width
        self.metres = metres
        self.top = 0  # raster row of the first pending row
        self.pending = np.empty((0, width), dtype=np.float32)

    def write(self, top: int, block: NDArray[np.float32]) -> None:
        if top != self.top + self.pending.shape[0]:
            raise ValueError(f"rows must arrive in order: got row {top}")
        # No copy of a large block when nothing waits (a window row of a big raster).
        rows = np.concatenate([self.pending, block]) if self.pending.shape[0] else block
        full = rows.shape[0] - rows.shape[0] % AGL_BLOCK_ROWS
        for y in range(0, full, AGL_BLOCK_ROWS):
            self._put(self.top + y, rows[y : y + AGL_BLOCK_ROWS])
        self.pending = np.array(rows[full:], dtype=np.float32)
        self.top += full

    def flush(self) -> None:
        if self.pending.shape[0]:
            self._put(self.top, self.pending)
            self.top += self.pending.shape[0]
            self.pending = np.empty((0, self.width), dtype=np.float32)

    def _put(self, top: int, rows: NDArray[np.float32]) -> None:
        window = Window(0, top, self.width, rows.shape[0])
        data = rows.astype(np.float32) if self.metres else agl_m_to_cm(rows)
        self.ds.write(data[None], window=window)


def _add_geo(profile: dict[str, Any], geo: GeoInfo | None) -> None:
    if geo is None:
        return
    if geo.crs is not None:
        profile["crs"] = rasterio.crs.CRS.from_wkt(geo.crs)
    if geo.transform is not None:
        profile["transform"] = rasterio.transform.Affine(*geo.transform)


def _georeferenced(profile: dict[str, Any]) -> bool:
    """True for a GeoTIFF profile that carries a CRS (a georeferenced output)."""
    return profile.get("driver") == "GTiff" and profile.get("crs") is not None


#: GDAL block cache (MB) while a Cloud-Optimised GeoTIFF is written.
COG_CACHE_MB = 128


def make_cog(path: Path) -> None:
    """Rewrite a GeoTIFF in place as a Cloud-Optimised GeoTIFF: 256-px tiles, deflate,
    overviews by nearest neighbour (heights and no-data stay values the file had)."""
    cog = path.with_name(path.stem + ".cog" + path.suffix)
    try:
        # GDAL's block cache defaults to 5 % of the machine's memory and the COG driver
        # fills it while it builds overviews: 2 GiB for a 20,000² AGL, measured. A small
        # cache keeps a large raster's prediction within its windows' memory.
        with rasterio.Env(GDAL_CACHEMAX=COG_CACHE_MB):
            rasterio.shutil.copy(
                path, cog, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE="256",
                OVERVIEWS="AUTO", RESAMPLING="NEAREST", BIGTIFF="IF_SAFER",
            )  # fmt: skip
        cog.replace(path)
    finally:
        cog.unlink(missing_ok=True)


def _write(path: Path, profile: dict[str, Any], bands: NDArray[Any]) -> None:
    """Write atomically; a georeferenced GeoTIFF becomes a Cloud-Optimised GeoTIFF."""
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.open(tmp, "w", **profile) as ds:
                ds.write(bands)
        except RasterioError as err:  # GDAL's write errors (full disk, size limit)
            raise OutputError(path, _one_line(err)) from None
        if _georeferenced(profile):
            make_cog(tmp)
        _verify_written(tmp, path, int(profile["height"]), int(profile["width"]))
        # GDAL writes side-car .aux.xml files for some formats; keep the folder clean.
        aux = tmp.with_name(tmp.name + ".aux.xml")
        if aux.exists():
            aux.unlink()


def write_float(
    path: str | Path, data: NDArray[np.floating], *, geo: GeoInfo | None = None
) -> None:
    """Write an H×W float32 raster (NaN = no data, also the file's no-data value) atomically,
    as a deflate-compressed GeoTIFF with the CRS and transform of ``geo``."""
    p = Path(path)
    a = np.asarray(data, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"{p}: expected an H×W raster, got shape {a.shape}")
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": a.shape[1],
        "height": a.shape[0],
        "count": 1,
        "dtype": "float32",
        "nodata": float("nan"),
        "compress": "deflate",
    }
    _add_geo(profile, geo)
    _write(p, profile, a[None])


def _verify_written(tmp: Path, target: Path, height: int, width: int) -> None:
    """Raise :class:`OutputError` naming ``target`` unless the raster just written to
    ``tmp`` opens with its size and its last pixel decodes.

    GDAL does not report every failed write: when the disk fills up or a file-size
    limit is reached while a file is closed, it prints the error and leaves a file cut
    short. Everything after the failure is missing, the directory at the end of a TIFF
    included, so reading the file's tail back finds it.
    """
    try:
        with warnings.catch_warnings(), rasterio.open(tmp) as ds:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ok = (ds.height, ds.width) == (height, width)
            if ok:
                ds.read(1, window=Window(width - 1, height - 1, 1, 1))
    except RasterioError:
        ok = False
    if not ok:
        raise OutputError(target, f"the file was cut short ({_write_limit(tmp)})")


def _write_limit(path: Path) -> str:
    """The likely reason a write was cut short, in words."""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and path.stat().st_size >= soft:
        return f"{os.strerror(errno.EFBIG)}: the file-size limit is {soft} bytes"
    if shutil.disk_usage(path.parent).free < 64 * 1024:
        return os.strerror(errno.ENOSPC)
    return "the disk may be full"
