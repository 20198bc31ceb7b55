"""The official scorer over files: prediction folders against truth folders (DESIGN.md §2).

For every ``{id}_VFLOW.json`` in the truth folder (with ``{id}_AGL.tif`` beside it) the
prediction ``{id}_AGL.tif`` + ``{id}_VFLOW.json`` is read from the prediction folder and
scored per city (the id's ``CITY_`` prefix; checked against a ``metadata.csv`` when
given) with :class:`geopose.metrics.GeoposeMetric`. A missing or unreadable prediction,
or a NaN predicted scale or angle, makes its city score 0, as the official scorer does;
the failure names the file. ``geopose evaluate`` and the demo are its callers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from geopose.errors import DataError, UsageError
from geopose.intervals import ScoreReport, TileStats, score_with_intervals, tile_stats
from geopose.io import read_agl, read_prediction, read_vflow
from geopose.io.layout import VFLOW_SUFFIX, agl_name, city_of, read_metadata, vflow_name
from geopose.metrics import GeoposeMetric, MetricResult


@dataclass(frozen=True)
class ImageTask:
    """The four files of one image and its city."""

    image_id: str
    city: str
    truth_agl: Path
    truth_vflow: Path
    pred_agl: Path
    pred_vflow: Path


def find_tasks(pred: Path, truth: Path, metadata: Path | None) -> list[ImageTask]:
    """One task per ``*_VFLOW.json`` truth file, sorted by id."""
    truth_files = sorted(truth.glob(f"*{VFLOW_SUFFIX}"))
    if not truth_files:
        raise UsageError(f"{truth}: no *{VFLOW_SUFFIX} truth files")
    meta = read_metadata(metadata) if metadata is not None else None
    tasks = []
    for path in truth_files:
        image_id = path.name[: -len(VFLOW_SUFFIX)]
        city = city_of(image_id)
        if not city:
            raise DataError(path, "file name has no CITY_ prefix")
        if meta is not None and metadata is not None:
            if image_id not in meta:
                raise DataError(metadata, f"id {image_id} (from {path}) is not listed")
            if meta[image_id].city != city:
                raise DataError(
                    metadata,
                    f"id {image_id} has city {meta[image_id].city!r} "
                    f"but its file name says {city!r}",
                )
        tasks.append(
            ImageTask(
                image_id,
                city,
                truth / agl_name(image_id),
                path,
                pred / agl_name(image_id),
                pred / vflow_name(image_id),
            )
        )
    return tasks


def score_image(task: ImageTask) -> tuple[dict[str, Any], str | None]:
    """Score one image: (metric state of this image, truth problem or None).

    Prediction problems (missing, unreadable, wrong shape, NaN scale/angle) fail the
    city inside the returned state; truth problems come back as a message.
    """
    metric = GeoposeMetric()
    try:
        agl_true = read_agl(task.truth_agl)
        scale_true, angle_true = read_vflow(task.truth_vflow)
    except DataError as err:
        return metric.state_dict(), str(err)
    try:
        pred = read_prediction(task.pred_agl.parent, task.image_id, shape=agl_true.shape)
    except DataError as err:
        metric.mark_failed(task.city, str(err))
    else:
        metric.update(
            task.city,
            pred.agl,
            pred.scale,
            pred.angle,
            agl_true,
            scale_true,
            angle_true,
            name=str(task.pred_vflow),
        )
    return metric.state_dict(), None


def _results(tasks: list[ImageTask], workers: int) -> Iterator[tuple[dict[str, Any], str | None]]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(score_image, tasks)
        return
    chunk = max(1, len(tasks) // (workers * 8))
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        yield from pool.map(score_image, tasks, chunksize=chunk)


def evaluate_files(
    tasks: list[ImageTask], workers: int, progress: bool | None = None
) -> tuple[GeoposeMetric, list[str]]:
    """Score all tasks (in order); also the truth problems. ``progress``: a progress bar
    on stderr (``None``: only when stderr is a terminal)."""
    metric = GeoposeMetric()
    truth_problems = []
    bar = tqdm(
        _results(tasks, workers),
        total=len(tasks),
        desc="evaluate",
        unit="image",
        file=sys.stderr,
        disable=None if progress is None else not progress,
    )
    for state, problem in bar:
        if problem is not None:
            truth_problems.append(problem)
        metric.merge(GeoposeMetric.from_state(state))
    return metric, truth_problems


def score_files_with_intervals(
    tasks: list[ImageTask], *, resamples: int = 1000, seed: int = 0
) -> ScoreReport:
    """The official score of ``tasks``' files with 95 % bootstrap intervals (tiles
    resampled within each city, :func:`geopose.intervals.score_with_intervals`).

    Every prediction must be readable (an unreadable one raises :class:`DataError`
    naming it): an interval over the tiles that happened to be readable would hide the
    failure the official score shows as a city of 0.
    """
    tiles: list[TileStats] = []
    for task in tasks:
        agl_true = read_agl(task.truth_agl)
        scale_true, angle_true = read_vflow(task.truth_vflow)
        pred = read_prediction(task.pred_agl.parent, task.image_id, shape=agl_true.shape)
        tiles.append(
            tile_stats(
                task.city, agl_true, scale_true, angle_true, pred.agl, pred.scale, pred.angle
            )
        )
    return score_with_intervals(tiles, resamples=resamples, seed=seed)


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if x == x else "n/a"


def format_table(result: MetricResult) -> str:
    """Per-city table and the final score, as printed on stdout."""
    header = (
        f"{'city':<6}{'images':>7}{'AGL R²':>9}{'VFLOW R²':>10}{'score':>9}"
        f"{'angle err °':>12}{'scale err px/m':>15}{'AGL RMSE m':>11}{'EPE px':>9}"
        f"{'pred no-data px':>16}"
    )
    lines = [header]
    for name, c in result.cities.items():
        flag = "  FAILED" if c.failed else ""
        lines.append(
            f"{name:<6}{c.images:>7}{_fmt(c.agl_r2):>9}{_fmt(c.vflow_r2):>10}{_fmt(c.score):>9}"
            f"{_fmt(c.angle_error_deg, 2):>12}{_fmt(c.scale_error):>15}{_fmt(c.agl_rmse, 3):>11}"
            f"{_fmt(c.epe, 3):>9}{c.pred_nodata:>16}{flag}"
        )
    lines.append(
        f"final score {_fmt(result.score)} (AGL R² {_fmt(result.agl_r2)}, "
        f"VFLOW R² {_fmt(result.vflow_r2)}; mean over {len(result.cities)} cities)"
    )
    return "\n".join(lines)
