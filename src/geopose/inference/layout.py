"""Prediction of a competition layout's split into official submission files.

:func:`predict_layout` predicts every image of a split (``test`` by default) and writes
``{id}_AGL.tif`` + ``{id}_VFLOW.json`` into ``out`` (:func:`geopose.io.write_prediction`),
atomically, one image at a time. A rerun skips ids that a manifest with the same
checkpoints and settings lists as done (:mod:`geopose.inference.manifest`); an
unreadable image is reported and skipped while all others are written. Under torchrun
each rank takes its share of the ids (:meth:`geopose.runtime.Runtime.take`), and rank 0
packs the archive after the others are done.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from geopose.errors import DataError, OutputError, UsageError
from geopose.inference.manifest import Manifest
from geopose.inference.options import PredictOptions, make_predictor, run_settings
from geopose.inference.predictor import Predictor
from geopose.inference.uncertainty import write_uncertainty
from geopose.inference.windows import Window
from geopose.io import GeoInfo, pack_submission, read_geo, read_rgb, write_prediction
from geopose.io.atomic import os_problem
from geopose.io.catalog import scan_layout
from geopose.io.layout import SPLITS, TEST_CSV, TRAIN, TRAIN_CSV, Entry
from geopose.runtime import Runtime, leave_group


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
    runtime: Runtime | None = None,
) -> LayoutSummary:
    """Predict every image of ``split`` in layout ``data`` into ``out`` (see module text).

    ``runtime``: this process (rank, device, precision); by default the one that
    torchrun's variables and ``options`` (device, precision, threads) describe.
    """
    opts = options or PredictOptions()
    if split not in SPLITS:
        raise UsageError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    rt = runtime or opts.runtime()
    all_entries, left_out = _split_entries(Path(data), split)
    entries = rt.take(all_entries)
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(out_dir, os_problem(err)) from None
    manifest = Manifest.open(
        out_dir,
        run_settings(checkpoints, opts, rt.precision),
        rank=rt.rank,
        overwrite=overwrite,
        info={"checkpoint_paths": [str(Path(p).resolve()) for p in checkpoints]},
    )
    summary = LayoutSummary(out=out_dir)
    if rt.is_main:
        summary.failed.update(left_out)
    todo = [e for e in entries if not manifest.is_complete(e.id)]
    summary.already_complete = [e.id for e in entries if manifest.is_complete(e.id)]
    joined = rt.join_group()
    start = time.perf_counter()
    if todo:
        predictor = make_predictor(checkpoints, opts, rt)
        bar = tqdm(total=len(todo), unit="tile", disable=not progress, desc="predict")
        for i in range(0, len(todo), opts.batch_size):
            _predict_chunk(
                predictor, todo[i : i + opts.batch_size], manifest, summary, opts.uncertainty
            )
            bar.update(len(todo[i : i + opts.batch_size]))
        bar.close()
    summary.seconds = time.perf_counter() - start
    if joined:
        rt.barrier()
        leave_group()
    if tar and rt.is_main:
        summary.tar = pack_submission(out_dir)
    return summary


def _split_entries(root: Path, split: str) -> tuple[list[Entry], dict[str, str]]:
    """Entries of a split and the problems that left listed images out of it.

    The problems map a key (the id, or the index file and line when the row has no
    usable id) to the one-line problem; index problems that leave no usable entry raise
    :class:`DataError`.
    """
    scan = scan_layout(root)
    entries = list(scan.layout.entries(split))
    if not entries:
        serious = [p for p in scan.problems if p.kind != "unexpected"]
        if serious:
            raise serious[0].to_error()
        raise DataError(root, f"split {split!r} has no images")
    fatal = [p for p in scan.problems if p.kind == "index"]
    index_csv = str(root / (TRAIN_CSV if split == TRAIN else TEST_CSV))
    kept = {e.id for e in entries}
    left_out: dict[str, str] = {}
    for row in scan.rows:
        if row.split != split or row.id in kept or row.id in left_out:
            continue
        said = [str(p) for p in fatal if _names_id(p.message, row.id)]
        left_out[row.id] = said[0] if said else f"{index_csv}: id {row.id} has no usable entry"
    said_already = set(left_out.values())
    for problem in fatal:  # the split index's own problems (duplicate lines, bad ids, ...)
        if problem.path == index_csv and str(problem) not in said_already:
            left_out[f"{Path(index_csv).name} {problem.message.split(':', 1)[0]}"] = str(problem)
    return entries, left_out


def _names_id(message: str, image_id: str) -> bool:
    """True when a problem's message is about ``image_id`` ("id X has ...")."""
    return re.search(rf"\bid {re.escape(image_id)}(?=[\s),]|$)", message) is not None


def _predict_chunk(
    predictor: Predictor,
    entries: list[Entry],
    manifest: Manifest,
    summary: LayoutSummary,
    uncertainty: bool = False,
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
        outputs = [_Output(r.agl, r.scale, r.angle, r.spread, r.agreement) for r in results]
    else:
        outputs = [_predict_in_memory(predictor, img, e.gsd, uncertainty) for e, img, _ in loaded]
    for (entry, _, geo), output in zip(loaded, outputs, strict=True):
        agl, scale, angle = output.agl, output.scale, output.angle
        if not (math.isfinite(scale) and math.isfinite(angle)):
            summary.failed[entry.id] = (
                f"{entry.rgb}: non-finite prediction (scale {scale}, angle {angle}); not written"
            )
            continue
        write_prediction(manifest.out, entry.id, agl, scale, angle, geo=geo)
        if uncertainty:
            if output.spread is None:
                raise ValueError("the model gives no AGL spread (agl_var)")
            write_uncertainty(manifest.out, entry.id, output.spread, output.agreement, geo=geo)
        manifest.mark(entry.id, scale, angle)
        summary.written.append(entry.id)


@dataclass(frozen=True)
class _Output:
    """One image's prediction: AGL (m), scale px/m, angle rad, AGL spread (m), agreement."""

    agl: NDArray[np.float32]
    scale: float
    angle: float
    spread: NDArray[np.float32] | None
    agreement: float


def _predict_in_memory(
    predictor: Predictor, image: NDArray[np.uint8], gsd: float, uncertainty: bool = False
) -> _Output:
    """Sliding-window prediction of an image held in memory."""
    h, w = image.shape[:2]
    agl = np.empty((h, w), dtype=np.float32)
    spread = np.empty((h, w), dtype=np.float32) if uncertainty else None

    def read(win: Window) -> NDArray[np.uint8]:
        return image[win.top : win.top + win.height, win.left : win.left + win.width]

    def sink(top: int, block: NDArray[np.float32]) -> None:
        agl[top : top + block.shape[0]] = block

    def spread_sink(top: int, block: NDArray[np.float32]) -> None:
        assert spread is not None  # only passed when uncertainty is asked for
        spread[top : top + block.shape[0]] = block

    result = predictor.predict_windows(
        h, w, gsd, read, sink, spread_sink=spread_sink if uncertainty else None
    )
    return _Output(agl, result.scale, result.angle, spread, result.agreement)
