"""Validate a competition layout, collecting every problem (the library of ``geopose check``).

:func:`check_layout` first scans the indexes and folders (:func:`scan_layout`: CSV
columns, duplicate ids, metadata, city prefixes, missing and unexpected files), then
opens the files of every image, in parallel over processes:

- RGB: the header (3 bands of uint8) and a decode. By default the decode is at the
  coarsest resolution level the file offers (JPEG 2000 decodes only those levels,
  ~10 ms instead of ~1 s for 2048²); ``full=True`` decodes every pixel. A reduced
  decode cannot see damage confined to the finer levels.
- AGL: uint16 centimetres, one band, the same size as its RGB image, at least one
  valid pixel; its statistics go into the summary.
- VFLOW: readable JSON with a finite scale ≥ 0 (px/cm) and a finite angle (rad).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from geopose.conventions import AGL_NODATA, CM_PER_M
from geopose.errors import DataError
from geopose.io.catalog import IndexRow, LayoutScan, scan_layout
from geopose.io.layout import TEST, TEST_TRUTH, TRAIN, ImageMeta, city_of
from geopose.io.problem import Problem
from geopose.io.raster import raster_info, read_agl_cm, read_rgb
from geopose.io.vflow import read_vflow


# ----------------------------------------------------------------------------- per image
@dataclass(frozen=True)
class FileJob:
    """The existing files of one image to open: RGB from ``split``, labels (if any) from
    ``label_split`` (``train`` or ``test_truth``)."""

    id: str
    split: str
    rgb: Path | None
    agl: Path | None = None
    vflow: Path | None = None
    label_split: str = TRAIN


@dataclass
class AglStats:
    """Running statistics of AGL values in metres over valid pixels, mergeable."""

    valid: int = 0
    nodata: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    @classmethod
    def of(cls, agl_m: NDArray[np.floating]) -> AglStats:
        """Statistics of one AGL map (float metres, NaN = no data)."""
        values = agl_m[np.isfinite(agl_m)].astype(np.float64)
        if values.size == 0:
            return cls(nodata=int(agl_m.size))
        return cls(
            valid=int(values.size),
            nodata=int(agl_m.size - values.size),
            total=float(values.sum()),
            total_sq=float(np.square(values).sum()),
            low=float(values.min()),
            high=float(values.max()),
        )

    @classmethod
    def of_cm(cls, agl_cm: NDArray[np.uint16]) -> AglStats:
        """Statistics in metres of a uint16 centimetre AGL raster (65535 = no data).

        Exact and about 4× faster than :meth:`of` on the float map: one histogram of
        the centimetre values gives counts, sums and extremes.
        """
        counts = np.bincount(agl_cm.ravel(), minlength=AGL_NODATA + 1).astype(np.float64)
        valid_counts = counts[:AGL_NODATA]
        present = np.flatnonzero(valid_counts)
        if present.size == 0:
            return cls(nodata=int(agl_cm.size))
        cm = np.arange(AGL_NODATA, dtype=np.float64)
        return cls(
            valid=int(valid_counts.sum()),
            nodata=int(counts[AGL_NODATA]),
            total=float(valid_counts @ cm) / CM_PER_M,
            total_sq=float(valid_counts @ np.square(cm)) / CM_PER_M**2,
            low=float(present[0]) / CM_PER_M,
            high=float(present[-1]) / CM_PER_M,
        )

    def merge(self, other: AglStats) -> None:
        """Add ``other``'s pixels to these statistics."""
        self.valid += other.valid
        self.nodata += other.nodata
        self.total += other.total
        self.total_sq += other.total_sq
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def to_dict(self) -> dict[str, float | int | None]:
        """Pixel counts and min / max / mean / std in metres (None without valid pixels)."""
        n = self.valid
        mean = self.total / n if n else None
        var = max(self.total_sq / n - mean * mean, 0.0) if mean is not None else None
        return {
            "valid_pixels": n,
            "nodata_fraction": self.nodata / (n + self.nodata) if n + self.nodata else None,
            "min": self.low if n else None,
            "max": self.high if n else None,
            "mean": mean,
            "std": math.sqrt(var) if var is not None else None,
        }


@dataclass
class FileResult:
    """What opening one image's files found."""

    job: FileJob
    problems: list[Problem] = field(default_factory=list)
    rgb_shape: tuple[int, int] | None = None
    agl: AglStats | None = None
    scale: float | None = None  # px/m
    angle: float | None = None  # rad


def check_files(job: FileJob, full: bool = False) -> FileResult:
    """Open the files of one image and collect their problems (never raises for data)."""
    result = FileResult(job)
    if job.rgb is not None:
        result.rgb_shape = _guard(result, job.rgb, lambda p: _check_rgb(p, full))
    if job.agl is not None:
        result.agl = _guard(result, job.agl, lambda p: _check_agl(p, result.rgb_shape, job.rgb))
    if job.vflow is not None:
        values = _guard(result, job.vflow, _check_vflow)
        if values is not None:
            result.scale, result.angle = values
    return result


def _guard(result: FileResult, path: Path, fn: Callable[[Path], Any]) -> Any:
    """Run one file check, turning its failure into a problem of ``result``."""
    try:
        return fn(path)
    except DataError as err:
        result.problems.append(Problem.from_error(err))
    except Exception as err:  # one bad file must not stop the check
        result.problems.append(Problem(str(path), f"unreadable: {type(err).__name__}: {err}"))
    return None


def _check_rgb(path: Path, full: bool) -> tuple[int, int]:
    info = raster_info(path)
    read_rgb(path, reduction=1 if full else info.coarsest_reduction)
    return info.height, info.width


def _check_agl(path: Path, rgb_shape: tuple[int, int] | None, rgb: Path | None) -> AglStats:
    agl = read_agl_cm(path)
    if rgb_shape is not None and rgb is not None and agl.shape != rgb_shape:
        raise DataError(
            path,
            f"AGL is {agl.shape[0]}×{agl.shape[1]} px but its image {rgb.name} is "
            f"{rgb_shape[0]}×{rgb_shape[1]} px",
        )
    stats = AglStats.of_cm(agl)
    if stats.valid == 0:
        raise DataError(path, "AGL has no valid pixel (all no-data)")
    return stats


def _check_vflow(path: Path) -> tuple[float, float]:
    scale, angle = read_vflow(path, check=False)
    if math.isnan(scale):
        raise DataError(path, "scale is NaN")
    if not math.isfinite(scale):
        raise DataError(path, f"scale is not finite ({scale / CM_PER_M} px/cm)")
    if scale < 0:
        raise DataError(path, f"scale is negative ({scale / CM_PER_M} px/cm)")
    if not math.isfinite(angle):
        raise DataError(path, f"angle is not finite ({angle})")
    return scale, angle


# ----------------------------------------------------------------------------- report
@dataclass
class CheckReport:
    """Result of :func:`check_layout`: every problem (sorted by file) and a summary."""

    root: Path
    problems: list[Problem]
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``ok``, ``summary`` and ``problems`` (path, message, kind)."""
        return {
            "root": str(self.root),
            "ok": self.ok,
            "summary": self.summary,
            "problems": [
                {"path": p.path, "message": p.message, "kind": p.kind} for p in self.problems
            ],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def format_text(self) -> str:
        """Human-readable summary followed by one line per problem."""
        return "\n".join(_summary_lines(self.root, self.summary) + _problem_lines(self.problems))


def check_layout(
    root: str | Path,
    *,
    full: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> CheckReport:
    """Validate the layout at ``root`` and return every problem with a summary.

    Args:
        full: decode every pixel of every RGB image (default: the coarsest level only).
        workers: processes to open files with; ``None`` uses every core, 1 uses none
            (everything runs in this process).
        progress: show a tqdm progress bar on stderr.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be ≥ 1, got {workers}")
    start = time.perf_counter()
    scan = scan_layout(root)
    jobs = file_jobs(scan.rows)
    n_workers = min(workers or os.cpu_count() or 1, max(len(jobs), 1))
    results = list(_run(jobs, full, n_workers, progress))
    problems = sorted(set(scan.problems + [p for r in results for p in r.problems]))
    summary = _summarise(scan, results, full)
    summary["problems"] = len(problems)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return CheckReport(Path(root), problems, summary)


def file_jobs(rows: Iterable[IndexRow]) -> list[FileJob]:
    """One job per image: train rows with their labels, test rows with their truth."""
    rows = list(rows)
    truth = {r.id: r for r in rows if r.split == TEST_TRUTH}

    def existing(path: Path | None) -> Path | None:
        return path if path is not None and path.is_file() else None

    jobs = []
    for row in rows:
        if row.split == TRAIN:
            jobs.append(
                FileJob(row.id, TRAIN, existing(row.rgb), existing(row.agl), existing(row.vflow))
            )
        elif row.split == TEST:
            t = truth.get(row.id)
            agl, vflow = (existing(t.agl), existing(t.vflow)) if t else (None, None)
            jobs.append(FileJob(row.id, TEST, existing(row.rgb), agl, vflow, TEST_TRUTH))
    return jobs


def _run(jobs: list[FileJob], full: bool, workers: int, progress: bool) -> Iterator[FileResult]:
    fn = partial(check_files, full=full)
    with tqdm(
        total=len(jobs), desc="check", unit="image", file=sys.stderr, disable=not progress
    ) as bar:
        if workers == 1:
            for job in jobs:
                yield fn(job)
                bar.update()
            return
        chunk = max(1, min(16, len(jobs) // (workers * 4)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(fn, jobs, chunksize=chunk):
                yield result
                bar.update()


# ----------------------------------------------------------------------------- summary
def _summarise(scan: LayoutScan, results: list[FileResult], full: bool) -> dict[str, Any]:
    meta = scan.layout.metadata
    images: dict[str, dict[str, int]] = {}
    for row in scan.rows:
        city = _city(row.id, meta)
        split_counts = images.setdefault(row.split, {})
        split_counts[city] = split_counts.get(city, 0) + 1
    listed = {row.id for row in scan.rows}
    gsd: dict[str, list[float]] = {}
    for image_id in listed:
        if image_id in meta:
            gsd.setdefault(meta[image_id].city, []).append(meta[image_id].gsd)
    agl: dict[str, dict[str, AglStats]] = {}
    scales: dict[str, dict[str, list[float]]] = {}
    for r in results:
        city = _city(r.job.id, meta)
        if r.agl is not None:
            agl.setdefault(r.job.label_split, {}).setdefault(city, AglStats()).merge(r.agl)
        if r.scale is not None:
            scales.setdefault(r.job.label_split, {}).setdefault(city, []).append(r.scale)
    return {
        "mode": "full" if full else "fast",
        "images": {s: dict(sorted(c.items())) for s, c in images.items()},
        "files_checked": sum(
            (r.job.rgb is not None) + (r.job.agl is not None) + (r.job.vflow is not None)
            for r in results
        ),
        "gsd_m": {c: {"min": min(v), "max": max(v)} for c, v in sorted(gsd.items())},
        "agl_m": {
            s: {c: st.to_dict() for c, st in sorted(cities.items())} for s, cities in agl.items()
        },
        "scale_px_per_m": {
            s: {c: {"min": min(v), "max": max(v)} for c, v in sorted(cities.items())}
            for s, cities in scales.items()
        },
        "unused_metadata_rows": scan.unused_metadata,
    }


def _city(image_id: str, meta: dict[str, ImageMeta] | Any) -> str:
    m = meta.get(image_id)
    return m.city if m is not None else (city_of(image_id) or "?")


def _fmt(x: float | int | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _summary_lines(root: Path, s: dict[str, Any]) -> list[str]:
    lines = [f"layout {root} ({s['mode']} check, {s['files_checked']} files, {s['seconds']} s)"]
    for split in (TRAIN, TEST, TEST_TRUTH):
        counts = s["images"].get(split)
        if counts:
            per_city = ", ".join(f"{c} {n}" for c, n in counts.items())
            lines.append(f"  {split}: {sum(counts.values())} images ({per_city})")
    for city, r in s["gsd_m"].items():
        lines.append(f"  gsd {city}: {r['min']:.3f}–{r['max']:.3f} m/px")
    for split, cities in s["agl_m"].items():
        for city, st in cities.items():
            nodata = st["nodata_fraction"]
            lines.append(
                f"  agl {split} {city}: mean {_fmt(st['mean'])} m, std {_fmt(st['std'])} m, "
                f"range {_fmt(st['min'])}–{_fmt(st['max'])} m, "
                f"no-data {_fmt(None if nodata is None else 100 * nodata, 1)} %"
            )
    for split, cities in s["scale_px_per_m"].items():
        for city, r in cities.items():
            lines.append(f"  scale {split} {city}: {r['min']:.3f}–{r['max']:.3f} px/m")
    if s["unused_metadata_rows"]:
        lines.append(f"  metadata rows for unlisted ids: {s['unused_metadata_rows']}")
    return lines


def _problem_lines(problems: list[Problem]) -> list[str]:
    if not problems:
        return ["no problems found"]
    return [f"{len(problems)} problem(s):", *(f"  {p}" for p in problems)]
