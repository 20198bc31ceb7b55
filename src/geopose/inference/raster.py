"""Prediction of one RGB raster of any size: GeoTIFF in → GeoTIFF AGL out.

:func:`predict_raster` slides windows over the image (:class:`geopose.inference.windows.
WindowGrid`), reads only the window it predicts, and streams the AGL rows to
:func:`geopose.io.raster.agl_row_writer` with the input's CRS and transform, so a
10k × 10k raster never has to be in memory; the image's scale and angle go to its VFLOW
JSON. :func:`predict_in_memory` is the same prediction of an array or a file with the AGL
collected in memory (the Python API's). Without a GSD,
the raster's own is read from its metric CRS (:func:`geopose.io.raster.read_gsd`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from geopose.errors import DataError, UsageError
from geopose.inference.options import PredictOptions, make_predictor
from geopose.inference.predictor import Predictor, RasterResult
from geopose.inference.uncertainty import SPREAD_JSON_SUFFIX, SPREAD_SUFFIX, write_spread_json
from geopose.inference.windows import Window, WindowGrid
from geopose.io.layout import agl_name, image_stem, vflow_name
from geopose.io.raster import (
    RasterInfo,
    agl_row_writer,
    raster_info,
    read_geo,
    read_gsd,
    read_rgb,
)
from geopose.io.vflow import write_vflow
from geopose.runtime import Runtime


@dataclass
class RasterSummary:
    """What :func:`predict_raster` wrote and found (scale px/m, angle rad, per window)."""

    agl: Path
    vflow: Path
    result: RasterResult
    seconds: float
    gsd: float = 0.0  # m/px the model was given
    gsd_from_crs: bool = False  # read from the raster's metric CRS (not given)

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "agl": str(self.agl),
            "vflow": str(self.vflow),
            "height": r.height,
            "width": r.width,
            "scale": r.scale,
            "angle": r.angle,
            "direction_agreement": r.agreement,
            "windows": r.windows,
            "gsd": self.gsd,
            "gsd_from_crs": self.gsd_from_crs,
            "seconds": self.seconds,
        }


def resolve_gsd(image: str | Path, gsd: float | None) -> tuple[float, bool]:
    """``(gsd m/px, read from the CRS)``: ``gsd`` when given (it must be positive), else
    the raster's own from its metric CRS (:class:`DataError` naming the file when it has
    none)."""
    if gsd is None:
        return read_gsd(image), True
    if not gsd > 0:
        raise UsageError(f"--gsd must be a positive number of metres per pixel, got {gsd}")
    return float(gsd), False


def rgb_raster_info(path: Path) -> RasterInfo:
    """The header of an 8-bit RGB raster; :class:`DataError` naming it otherwise."""
    info = raster_info(path)
    if info.count not in (3, 4) or info.dtype != "uint8":
        raise DataError(path, f"expected 8-bit RGB, found {info.count} band(s) of {info.dtype}")
    return info


def _file_reader(src: Path) -> Callable[[Window], NDArray[np.uint8]]:
    def read(win: Window) -> NDArray[np.uint8]:
        return read_rgb(src, window=win.as_tuple())

    return read


def _array_reader(arr: NDArray[np.uint8]) -> Callable[[Window], NDArray[np.uint8]]:
    def read(win: Window) -> NDArray[np.uint8]:
        return arr[win.top : win.top + win.height, win.left : win.left + win.width]

    return read


def predict_in_memory(
    predictor: Predictor,
    image: NDArray[np.uint8] | str | Path,
    gsd: float,
    *,
    progress: bool = False,
) -> tuple[NDArray[np.float32], RasterResult]:
    """Predict an RGB image of any size into memory with the predictor's sliding windows:
    ``(AGL H×W float32 m with NaN = no data, the image's results)``.

    ``image``: an H×W×3 uint8 RGB array, or an RGB raster file read window by window.
    ``gsd``: metres per pixel. ``progress``: a progress bar on stderr.
    """
    if isinstance(image, str | Path):
        src = Path(image)
        info = rgb_raster_info(src)
        height, width, read = info.height, info.width, _file_reader(src)
    else:
        arr = np.asarray(image)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise UsageError(
                f"image: expected an H×W×3 uint8 RGB array, got {arr.dtype} {arr.shape}"
            )
        height, width, read = arr.shape[0], arr.shape[1], _array_reader(arr)
    if not gsd > 0:
        raise UsageError(f"gsd must be a positive number of metres per pixel, got {gsd}")
    agl = np.full((height, width), np.nan, dtype=np.float32)

    def sink(top: int, rows: NDArray[np.float32]) -> None:
        agl[top : top + rows.shape[0]] = rows

    grid = WindowGrid(height, width, predictor.window, predictor.overlap)
    with tqdm(total=len(grid), unit="window", disable=not progress, desc="predict") as bar:
        result = predictor.predict_windows(height, width, gsd, read, sink, bar.update)
    return agl, result


def predict_raster(
    checkpoints: Sequence[str | Path],
    image: str | Path,
    gsd: float | None,
    out: str | Path,
    *,
    options: PredictOptions | None = None,
    predictor: Predictor | None = None,
    progress: bool = True,
    runtime: Runtime | None = None,
) -> RasterSummary:
    """Predict one RGB raster of any size (GSD in m/px; ``None``: read from the raster's
    metric CRS) into ``out``.

    Writes ``{stem}_AGL.tif`` (uint16 cm, 65535 no data, deflate, tiled, with the input's
    CRS and transform) window row by window row, and ``{stem}_VFLOW.json``. Pass a
    ``predictor`` to reuse a loaded model (``checkpoints`` is then ignored). ``runtime``:
    the device and precision (by default those of ``options``).
    """
    src = Path(image)
    gsd_m, from_crs = resolve_gsd(src, gsd)
    if not (math.isfinite(gsd_m) and gsd_m > 0):
        raise UsageError(f"--gsd must be a positive finite number of metres per pixel, got {gsd_m}")
    info = rgb_raster_info(src)
    opts = options or PredictOptions()
    pred = predictor or make_predictor(checkpoints, opts, runtime or opts.runtime())
    out_dir = Path(out)
    stem = image_stem(src)
    agl_path, vflow_path = out_dir / agl_name(stem), out_dir / vflow_name(stem)
    geo = read_geo(src)
    grid = WindowGrid(info.height, info.width, pred.window, pred.overlap)
    bar = tqdm(total=len(grid), unit="window", disable=not progress, desc="predict")
    start = time.perf_counter()
    spread_path = out_dir / f"{stem}{SPREAD_SUFFIX}"
    sums = [0.0, 0.0]  # Σ spread (m), count of finite spread pixels
    with contextlib.ExitStack() as stack:
        write_rows = stack.enter_context(agl_row_writer(agl_path, info.height, info.width,
                                                        geo=geo))  # fmt: skip
        spread_writers: list[Callable[[int, NDArray[np.float32]], None]] = []
        if opts.uncertainty:
            spread_writers.append(stack.enter_context(
                agl_row_writer(spread_path, info.height, info.width, geo=geo, metres=True)
            ))  # fmt: skip

        def write_spread(top: int, block: NDArray[np.float32]) -> None:
            finite = block[np.isfinite(block)]
            sums[0] += float(finite.sum())
            sums[1] += float(finite.size)
            spread_writers[0](top, block)

        spread_sink = write_spread if spread_writers else None
        read = _file_reader(src)
        result = pred.predict_windows(info.height, info.width, gsd_m, read, write_rows,
                                      bar.update, spread_sink=spread_sink)  # fmt: skip
    bar.close()
    write_vflow(vflow_path, result.scale, result.angle)
    if opts.uncertainty:
        mean = sums[0] / sums[1] if sums[1] else None
        write_spread_json(out_dir / f"{stem}{SPREAD_JSON_SUFFIX}", result.agreement, mean, None)
    seconds = time.perf_counter() - start
    return RasterSummary(agl_path, vflow_path, result, seconds, gsd_m, from_crs)
