"""Prediction as a library: a competition layout, or one raster of any size.

- :func:`predict_layout` predicts every image of a split (``test`` by default) and writes
  the official submission files ``{id}_AGL.tif`` + ``{id}_VFLOW.json`` into ``out``,
  atomically, one image at a time. A rerun skips ids that a manifest with the same
  checkpoints and settings lists as done (:mod:`geopose.inference.manifest`); an
  unreadable image is reported and skipped while all others are written. Under torchrun
  each rank takes its share of the ids.
- :func:`predict_raster` predicts one image file of any size: GeoTIFF in → GeoTIFF AGL
  out with the same CRS and transform, written window row by window row so a
  10k × 10k raster never has to be in memory, plus its VFLOW JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.windows import Window as RioWindow
from tqdm import tqdm

from geopose.conventions import AGL_NODATA, agl_m_to_cm
from geopose.errors import DataError, UsageError
from geopose.inference.dist_predict import Shard, barrier_and_close, device_for, init_group
from geopose.inference.load_model import file_sha256
from geopose.inference.manifest import Manifest
from geopose.inference.predictor import Predictor, RasterResult, build_model
from geopose.inference.tta import tta_views
from geopose.inference.windows import Window, WindowGrid
from geopose.io import GeoInfo, pack_submission, raster_info, read_geo, read_rgb, write_prediction
from geopose.io.atomic import atomic_path
from geopose.io.catalog import scan_layout
from geopose.io.layout import SPLITS, Entry, agl_name, image_stem
from geopose.io.vflow import write_vflow
from geopose.precision import resolve_precision


@dataclass(frozen=True)
class PredictOptions:
    """How to predict.

    ``tta``: none/flip/d2/d4. ``precision``: fp32/bf16/fp16/auto. ``batch_size``: tiles
    or windows per forward pass (each with all its views). ``weights``: one per
    checkpoint (ensemble weights). ``device``: ``auto`` (``cuda:LOCAL_RANK`` when
    available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``. ``window``/``overlap``: sliding
    window size and overlap in pixels (tiles up to ``window`` px run in one pass).
    ``max_views_batch``: cap on images per forward pass (views × tiles), ``None`` = all.
    ``shrink_flow``: write the scale times the TTA views' direction agreement (see
    :mod:`geopose.inference.predictor`); off by default because the scale written is then
    no longer the physical lean.
    """

    tta: str = "d4"
    precision: str = "fp32"
    batch_size: int = 1
    weights: tuple[float, ...] | None = None
    device: str = "auto"
    window: int = 2048
    overlap: int = 256
    max_views_batch: int | None = None
    shrink_flow: bool = False

    def check(self, n_checkpoints: int) -> None:
        """Raise :class:`UsageError` for inconsistent options."""
        tta_views(self.tta)
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be ≥ 1, got {self.batch_size}")
        if self.window < 32 or not 0 <= self.overlap < self.window:
            raise UsageError(
                f"--window {self.window} / --overlap {self.overlap}: need window ≥ 32 "
                "and 0 ≤ overlap < window"
            )
        if self.weights is not None and len(self.weights) != n_checkpoints:
            raise UsageError(
                f"{len(self.weights)} ensemble weights for {n_checkpoints} checkpoints"
            )


@dataclass
class LayoutSummary:
    """What :func:`predict_layout` did: ids written, ids already complete, ids skipped
    with their problem, the archive (if any), and throughput (tiles/s)."""

    out: Path
    written: list[str] = field(default_factory=list)
    already_complete: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    tar: Path | None = None
    seconds: float = 0.0

    @property
    def tiles_per_s(self) -> float:
        return len(self.written) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "written": len(self.written),
            "already_complete": len(self.already_complete),
            "failed": self.failed,
            "tar": str(self.tar) if self.tar else None,
            "seconds": self.seconds,
            "tiles_per_s": self.tiles_per_s,
        }


@dataclass
class RasterSummary:
    """What :func:`predict_raster` wrote and found (scale px/m, angle rad, per window)."""

    agl: Path
    vflow: Path
    result: RasterResult
    seconds: float

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
            "seconds": self.seconds,
        }


def make_predictor(
    checkpoints: Sequence[str | Path], options: PredictOptions, shard: Shard | None = None
) -> Predictor:
    """The :class:`Predictor` for ``checkpoints`` and ``options`` on this shard's device."""
    options.check(len(checkpoints))
    device = device_for(shard or Shard(), options.device)
    model = build_model(
        checkpoints,
        tta=options.tta,
        weights=options.weights,
        device=device,
        max_batch=options.max_views_batch,
    )
    return Predictor(
        model,
        device=device,
        precision=options.precision,
        batch_size=options.batch_size,
        window=options.window,
        overlap=options.overlap,
        shrink_flow=options.shrink_flow,
    )


def run_settings(
    checkpoints: Sequence[str | Path], options: PredictOptions, precision: str
) -> dict[str, Any]:
    """The settings a manifest records: what changes the written outputs."""
    return {
        "checkpoints": [file_sha256(p) for p in checkpoints],
        "weights": list(options.weights) if options.weights is not None else None,
        "tta": options.tta,
        "precision": precision,
        "window": options.window,
        "overlap": options.overlap,
        "shrink_flow": options.shrink_flow,
    }


# ----------------------------------------------------------------------------- layout
def predict_layout(
    checkpoints: Sequence[str | Path],
    data: str | Path,
    out: str | Path,
    *,
    split: str = "test",
    options: PredictOptions | None = None,
    tar: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    shard: Shard | None = None,
) -> LayoutSummary:
    """Predict every image of ``split`` in layout ``data`` into ``out`` (see module text)."""
    opts = options or PredictOptions()
    shard = shard or Shard()
    if split not in SPLITS:
        raise UsageError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    opts.check(len(checkpoints))
    entries = shard.take(_split_entries(Path(data), split))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = device_for(shard, opts.device)
    precision = resolve_precision(opts.precision, device)
    manifest = Manifest.open(
        out_dir,
        run_settings(checkpoints, opts, precision),
        rank=shard.rank,
        overwrite=overwrite,
        info={"checkpoint_paths": [str(Path(p).resolve()) for p in checkpoints]},
    )
    summary = LayoutSummary(out=out_dir)
    todo = [e for e in entries if not manifest.is_complete(e.id)]
    summary.already_complete = [e.id for e in entries if manifest.is_complete(e.id)]
    started = init_group(shard, device)
    start = time.perf_counter()
    if todo:
        predictor = make_predictor(checkpoints, opts, shard)
        bar = tqdm(total=len(todo), unit="tile", disable=not progress, desc="predict")
        for i in range(0, len(todo), opts.batch_size):
            _predict_chunk(predictor, todo[i : i + opts.batch_size], manifest, summary)
            bar.update(len(todo[i : i + opts.batch_size]))
        bar.close()
    summary.seconds = time.perf_counter() - start
    barrier_and_close(started)
    if tar and shard.is_main:
        summary.tar = pack_submission(out_dir)
    return summary


def _split_entries(root: Path, split: str) -> list[Entry]:
    """Entries of a split; index problems that leave no usable entry raise DataError."""
    scan = scan_layout(root)
    entries = list(scan.layout.entries(split))
    if not entries:
        fatal = [p for p in scan.problems if p.kind != "unexpected"]
        if fatal:
            raise fatal[0].to_error()
        raise DataError(root, f"split {split!r} has no images")
    return entries


def _predict_chunk(
    predictor: Predictor, entries: list[Entry], manifest: Manifest, summary: LayoutSummary
) -> None:
    """Read, predict and write a chunk of entries; unreadable ones are recorded and skipped."""
    loaded: list[tuple[Entry, NDArray[np.uint8], GeoInfo]] = []
    for entry in entries:
        try:
            loaded.append((entry, read_rgb(entry.rgb), read_geo(entry.rgb)))
        except DataError as err:
            summary.failed[entry.id] = str(err)
    if not loaded:
        return
    shapes = {img.shape for _, img, _ in loaded}
    fits = all(max(img.shape[:2]) <= predictor.window for _, img, _ in loaded)
    if len(shapes) == 1 and fits:
        images = np.stack([img for _, img, _ in loaded])
        results = predictor.predict_tiles(images, [e.gsd for e, _, _ in loaded])
        outputs = [(r.agl, r.scale, r.angle) for r in results]
    else:
        outputs = [_predict_in_memory(predictor, img, e.gsd) for e, img, _ in loaded]
    for (entry, _, geo), (agl, scale, angle) in zip(loaded, outputs, strict=True):
        if not (math.isfinite(scale) and math.isfinite(angle)):
            summary.failed[entry.id] = (
                f"{entry.rgb}: non-finite prediction (scale {scale}, angle {angle}); not written"
            )
            continue
        write_prediction(manifest.out, entry.id, agl, scale, angle, geo=geo)
        manifest.mark(entry.id, scale, angle)
        summary.written.append(entry.id)


def _predict_in_memory(
    predictor: Predictor, image: NDArray[np.uint8], gsd: float
) -> tuple[NDArray[np.float32], float, float]:
    """Sliding-window prediction of an image held in memory."""
    h, w = image.shape[:2]
    agl = np.empty((h, w), dtype=np.float32)

    def read(win: Window) -> NDArray[np.uint8]:
        return image[win.top : win.top + win.height, win.left : win.left + win.width]

    def sink(top: int, block: NDArray[np.float32]) -> None:
        agl[top : top + block.shape[0]] = block

    result = predictor.predict_windows(h, w, gsd, read, sink)
    return agl, result.scale, result.angle


# ----------------------------------------------------------------------------- raster
#: GDAL block cache (MiB) while streaming a raster: bounds memory whatever its size.
_GDAL_CACHE_MB = 256
#: Rows converted to centimetres and written at a time.
_SINK_ROWS = 256


def predict_raster(
    checkpoints: Sequence[str | Path],
    image: str | Path,
    gsd: float,
    out: str | Path,
    *,
    options: PredictOptions | None = None,
    predictor: Predictor | None = None,
    progress: bool = True,
) -> RasterSummary:
    """Predict one RGB raster of any size (GSD in m/px) into ``out``.

    Writes ``{stem}_AGL.tif`` (uint16 cm, 65535 no data, deflate, tiled, with the input's
    CRS and transform) window row by window row, and ``{stem}_VFLOW.json``. Pass a
    ``predictor`` to reuse a loaded model (``checkpoints`` is then ignored).
    """
    src = Path(image)
    if not gsd > 0:
        raise UsageError(f"--gsd must be a positive number of metres per pixel, got {gsd}")
    info = raster_info(src)
    if info.count not in (3, 4) or info.dtype != "uint8":
        raise DataError(src, f"expected 8-bit RGB, found {info.count} band(s) of {info.dtype}")
    opts = options or PredictOptions()
    pred = predictor or make_predictor(checkpoints, opts)
    out_dir = Path(out)
    stem = image_stem(src)
    agl_path, vflow_path = out_dir / agl_name(stem), out_dir / f"{stem}_VFLOW.json"
    geo = read_geo(src)
    grid = WindowGrid(info.height, info.width, pred.window, pred.overlap)
    bar = tqdm(total=len(grid), unit="window", disable=not progress, desc="predict")
    start = time.perf_counter()
    with (
        rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB),
        atomic_path(agl_path) as tmp,
        _agl_writer(tmp, info.height, info.width, geo) as ds,
    ):

        def read(win: Window) -> NDArray[np.uint8]:
            return read_rgb(src, window=win.as_tuple())

        writer = _AlignedRowWriter(ds, info.width)
        result = pred.predict_windows(info.height, info.width, gsd, read, writer.write, bar.update)
        writer.flush()
    bar.close()
    write_vflow(vflow_path, result.scale, result.angle)
    return RasterSummary(agl_path, vflow_path, result, time.perf_counter() - start)


class _AlignedRowWriter:
    """Write AGL rows (metres) to a GeoTIFF in whole 256-row block bands, in order.

    Rows arrive in blocks of any height; full bands of :data:`_SINK_ROWS` rows are
    converted to centimetres and written, the rest waits for the next block (or
    :meth:`flush`). Writing each compressed block once keeps the file free of the dead
    space that rewriting a block leaves, and keeps temporaries small.
    """

    def __init__(self, ds: Any, width: int) -> None:
        self.ds = ds
        self.width = width
        self.top = 0  # raster row of the first pending row
        self.pending = np.empty((0, width), dtype=np.float32)

    def write(self, top: int, block: NDArray[np.float32]) -> None:
        if top != self.top + self.pending.shape[0]:
            raise ValueError(f"rows must arrive in order: got row {top}")
        rows = np.concatenate([self.pending, block]) if self.pending.size else block
        full = rows.shape[0] - rows.shape[0] % _SINK_ROWS
        for y in range(0, full, _SINK_ROWS):
            self._put(self.top + y, rows[y : y + _SINK_ROWS])
        self.pending = np.array(rows[full:], dtype=np.float32)
        self.top += full

    def flush(self) -> None:
        if self.pending.shape[0]:
            self._put(self.top, self.pending)
            self.top += self.pending.shape[0]
            self.pending = np.empty((0, self.width), dtype=np.float32)

    def _put(self, top: int, rows: NDArray[np.float32]) -> None:
        window = RioWindow(0, top, self.width, rows.shape[0])
        self.ds.write(agl_m_to_cm(rows)[None], window=window)


def _agl_writer(path: Path, height: int, width: int, geo: GeoInfo) -> Any:
    """Open a uint16 centimetre AGL GeoTIFF for window-by-window writing."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint16",
        "nodata": AGL_NODATA,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if geo.crs is not None:
        profile["crs"] = rasterio.crs.CRS.from_wkt(geo.crs)
    if geo.transform is not None:
        profile["transform"] = rasterio.transform.Affine(*geo.transform)
    return rasterio.open(path, "w", **profile)
