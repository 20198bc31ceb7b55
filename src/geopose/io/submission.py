"""Submissions in the competition format: one AGL GeoTIFF and one VFLOW JSON per image.

- ``{id}_AGL.tif``: ``uint16`` centimetres, rounded, clipped to [0, 65534], no data
  65535, deflate-compressed (what the official baseline writes).
- ``{id}_VFLOW.json``: ``{"scale": px/cm, "angle": rad}``.
- Optionally ``submission.tar.gz`` holding those files flat at the archive root.

Every file is written atomically. The reader gives back ``(agl m, scale px/m, angle
rad)`` per id, with NaN values kept as stored (the scorer decides what they cost).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from geopose.errors import DataError
from geopose.io.atomic import atomic_path
from geopose.io.layout import AGL_SUFFIX, VFLOW_SUFFIX, agl_name, vflow_name
from geopose.io.raster import GeoInfo, read_agl, write_agl
from geopose.io.vflow import read_vflow, write_vflow

SUBMISSION_TAR = "submission.tar.gz"


@dataclass(frozen=True)
class Prediction:
    """One image's prediction: ``agl`` H×W float32 metres (NaN = no data), ``scale``
    in pixels per metre, ``angle`` in radians."""

    agl: NDArray[np.float32]
    scale: float
    angle: float


@dataclass(frozen=True)
class SubmissionFiles:
    """The files of one id in a submission folder (``None`` where one is missing)."""

    id: str
    agl: Path | None
    vflow: Path | None


def write_prediction(
    folder: str | Path,
    image_id: str,
    agl: NDArray[np.floating],
    scale: float,
    angle: float,
    *,
    geo: GeoInfo | None = None,
) -> tuple[Path, Path]:
    """Write ``{id}_AGL.tif`` and ``{id}_VFLOW.json`` into ``folder``; return both paths.

    Args:
        agl: H×W heights in metres; NaN (or any non-finite value) is written as no data.
        scale: pixels per metre (written as pixels per cm).
        angle: radians (written wrapped into [0, 2π)).
        geo: CRS and transform of the input image, carried over to the AGL GeoTIFF.
    """
    out = Path(folder)
    agl_path, vflow_path = out / agl_name(image_id), out / vflow_name(image_id)
    write_agl(agl_path, agl, geo=geo)
    write_vflow(vflow_path, scale, angle)
    return agl_path, vflow_path


def submission_files(folder: str | Path) -> dict[str, SubmissionFiles]:
    """The ids found in a submission folder, each with its AGL and VFLOW paths."""
    d = Path(folder)
    if not d.is_dir():
        raise DataError(d, "submission folder not found")
    agl: dict[str, Path] = {}
    vflow: dict[str, Path] = {}
    for path in d.iterdir():
        name = path.name
        if name.startswith("."):
            continue
        if name.endswith(AGL_SUFFIX):
            agl[name[: -len(AGL_SUFFIX)]] = path
        elif name.endswith(VFLOW_SUFFIX):
            vflow[name[: -len(VFLOW_SUFFIX)]] = path
    return {i: SubmissionFiles(i, agl.get(i), vflow.get(i)) for i in sorted(set(agl) | set(vflow))}


def read_prediction(
    folder: str | Path, image_id: str, *, shape: tuple[int, ...] | None = None
) -> Prediction:
    """Read one id's prediction from a submission folder.

    The VFLOW values are returned as stored (NaN included, as the official scorer
    reads them). A missing or unreadable file, or an AGL whose shape is not ``shape``
    (the truth's, when given), raises :class:`DataError` naming the file; when several
    things are wrong the message lists them all.
    """
    d = Path(folder)
    agl_path = d / agl_name(image_id)
    problems: list[DataError] = []
    agl = scale = angle = None
    try:
        agl = read_agl(agl_path)
    except DataError as err:
        problems.append(err)
    try:
        scale, angle = read_vflow(d / vflow_name(image_id), check=False)
    except DataError as err:
        problems.append(err)
    if agl is not None and shape is not None and agl.shape != tuple(shape):
        problems.append(DataError(agl_path, f"shape {agl.shape} but the truth is {shape}"))
    if problems or agl is None or scale is None or angle is None:
        first, *rest = problems  # a file that was not read left a problem
        if not rest:
            raise first
        raise DataError(first.path, "; ".join([first.problem, *map(str, rest)]))
    return Prediction(agl, scale, angle)


def iter_submission(
    folder: str | Path, ids: Iterable[str] | None = None
) -> Iterator[tuple[str, Prediction]]:
    """Yield ``(id, Prediction)`` one at a time (a 2048² tile is 16 MB in memory).

    ``ids`` defaults to every id with a file in the folder; an id whose AGL or VFLOW
    file is missing raises :class:`DataError` naming the missing file.
    """
    wanted = list(submission_files(folder)) if ids is None else list(ids)
    for image_id in wanted:
        yield image_id, read_prediction(folder, image_id)


def read_submission(folder: str | Path, ids: Iterable[str] | None = None) -> dict[str, Prediction]:
    """All predictions of a submission folder as ``{id: Prediction}`` (see iter_submission)."""
    return dict(iter_submission(folder, ids))


def pack_submission(folder: str | Path, tar_path: str | Path | None = None) -> Path:
    """Pack every ``*_AGL.tif`` and ``*_VFLOW.json`` of ``folder`` into a flat tar.gz.

    The archive (default ``folder/submission.tar.gz``) holds the files at its root,
    sorted by name, and is written atomically. Raises :class:`DataError` when an id
    has only one of its two files (the official scorer would crash on it).
    """
    d = Path(folder)
    target = Path(tar_path) if tar_path is not None else d / SUBMISSION_TAR
    pairs: list[tuple[Path, Path]] = []
    for entry in submission_files(d).values():
        if entry.agl is None:
            raise DataError(d / agl_name(entry.id), "missing (its VFLOW file exists)")
        if entry.vflow is None:
            raise DataError(d / vflow_name(entry.id), "missing (its AGL file exists)")
        pairs.append((entry.agl, entry.vflow))
    with atomic_path(target) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for pair in pairs:
            for path in pair:
                tar.add(path, arcname=path.name, recursive=False)
    return target


def unpack_submission(tar_path: str | Path, folder: str | Path) -> Path:
    """Extract a submission archive into ``folder`` (plain files only) and return it."""
    src, out = Path(tar_path), Path(folder)
    try:
        with tarfile.open(src, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            out.mkdir(parents=True, exist_ok=True)
            tar.extractall(out, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(src, f"cannot unpack submission: {err}") from None
    return out
