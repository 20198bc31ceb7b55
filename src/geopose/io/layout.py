"""The competition data layout (DESIGN.md §3): file naming, the three CSV indexes, and
the opened layout (:class:`Layout` of :class:`Entry`; read by :mod:`geopose.io.catalog`).

```
DATA/
  train/{id}_RGB.j2k  {id}_AGL.tif  {id}_VFLOW.json
  test/{id}_RGB.j2k
  test_truth/{id}_AGL.tif  {id}_VFLOW.json     optional: labels of the test ids
  geopose_train.csv (id, agl, json, rgb)   geopose_test.csv (id, rgb)
  metadata.csv (id, city, gsd[, group])
```

File columns of the index CSVs hold file names relative to the split's folder (as
written by geopose); names relative to ``DATA/`` (``train/x_RGB.j2k``) are accepted
too. An id starts with its city: ``CITY_rest``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from geopose.errors import DataError
from geopose.io.atomic import atomic_write_text
from geopose.io.problem import Problem

TRAIN_DIR = "train"
TEST_DIR = "test"
TRUTH_DIR = "test_truth"
TRAIN_CSV = "geopose_train.csv"
TEST_CSV = "geopose_test.csv"
METADATA_CSV = "metadata.csv"

TRAIN_COLUMNS = ("id", "agl", "json", "rgb")
TEST_COLUMNS = ("id", "rgb")
METADATA_COLUMNS = ("id", "city", "gsd")  # plus optional "group"

#: Split names of a layout (``test_truth``: the test ids with the labels of
#: ``test_truth/``).
TRAIN = "train"
TEST = "test"
TEST_TRUTH = "test_truth"
SPLITS = (TRAIN, TEST, TEST_TRUTH)

RGB_SUFFIX = "_RGB.j2k"
AGL_SUFFIX = "_AGL.tif"
VFLOW_SUFFIX = "_VFLOW.json"


def rgb_name(image_id: str, ext: str = ".j2k") -> str:
    """File name of an image's RGB raster (``{id}_RGB.j2k``)."""
    return f"{image_id}_RGB{ext}"


def agl_name(image_id: str) -> str:
    """File name of an image's AGL raster (``{id}_AGL.tif``)."""
    return f"{image_id}{AGL_SUFFIX}"


def vflow_name(image_id: str) -> str:
    """File name of an image's VFLOW JSON (``{id}_VFLOW.json``)."""
    return f"{image_id}{VFLOW_SUFFIX}"


def id_problem(image_id: str) -> str | None:
    """Why ``image_id`` cannot name files, or None when it can.

    Ids become output file names (``OUT/{id}_AGL.tif``), so an id must be one plain
    name: not empty, no path separator, not ``.``/``..`` or hidden (leading ``.``), no
    control character. This keeps a crafted index from writing outside the output folder.
    """
    if not image_id:
        return "empty id"
    if "/" in image_id or "\\" in image_id:
        return f"id {image_id!r} contains a path separator"
    if image_id.startswith("."):
        return f"id {image_id!r} starts with '.' (hidden or path-traversing name)"
    if any(ord(c) < 32 or ord(c) == 127 for c in image_id):
        return f"id {image_id!r} contains a control character"
    return None


def city_of(image_id: str) -> str:
    """City code from an id's prefix (``JAX_abc`` → ``JAX``); empty when there is none."""
    head, sep, _ = image_id.partition("_")
    return head if sep else ""


def id_from_filename(name: str) -> str | None:
    """The image id of a layout file name (``X_RGB.j2k``, ``X_AGL.tif``, ``X_VFLOW.json``)."""
    for marker in ("_RGB.", "_AGL.", "_VFLOW."):
        idx = name.rfind(marker)
        if idx > 0:
            return name[:idx]
    return None


def image_stem(path: Path) -> str:
    """Output name stem of an image file: its id when the name follows the layout
    (``JAX_001`` of ``JAX_001_RGB.tif``), else the file's stem."""
    return id_from_filename(path.name) or path.stem


@dataclass(frozen=True)
class ImageMeta:
    """One row of ``metadata.csv``: city code, GSD (m/px) and optional location group."""

    id: str
    city: str
    gsd: float
    group: str | None = None


@dataclass(frozen=True)
class Entry:
    """One image of a layout split.

    ``gsd`` in metres per pixel; ``rgb`` always set; ``agl`` (uint16 cm GeoTIFF) and
    ``vflow`` (JSON, scale in px/cm) set for labelled splits, ``None`` for ``test``.
    """

    id: str
    split: str
    city: str
    gsd: float
    rgb: Path
    agl: Path | None = None
    vflow: Path | None = None
    group: str | None = None

    @property
    def has_labels(self) -> bool:
        """True when the entry has both label files (AGL and VFLOW)."""
        return self.agl is not None and self.vflow is not None


@dataclass(frozen=True)
class Layout:
    """A competition layout: its root and the entries of each split present."""

    root: Path
    splits: Mapping[str, tuple[Entry, ...]]
    metadata: Mapping[str, ImageMeta]

    def entries(self, split: str) -> tuple[Entry, ...]:
        """Entries of ``split`` (``train``, ``test`` or ``test_truth``); empty if absent."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} (use one of {', '.join(SPLITS)})")
        return self.splits.get(split, ())

    @property
    def has_test_truth(self) -> bool:
        """True when the layout has a ``test_truth/`` folder with labels of the test ids."""
        return TEST_TRUTH in self.splits

    def entry(self, image_id: str, split: str = TRAIN) -> Entry:
        """The entry of ``image_id`` in ``split``; :class:`KeyError` when absent."""
        for e in self.entries(split):
            if e.id == image_id:
                return e
        raise KeyError(f"{image_id} is not in split {split!r} of {self.root}")

    def __iter__(self) -> Iterator[Entry]:
        """All entries, split after split."""
        for split in SPLITS:
            yield from self.splits.get(split, ())


#: Where :func:`read_csv_rows` collects the cells of a row beyond its header's columns.
_EXTRA_CELLS = "\0extra"


def read_csv_rows(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    """Read a CSV with a header; raise :class:`DataError` naming a missing column or file."""
    if not path.exists():
        raise DataError(path, "file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read: {err}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=_EXTRA_CELLS)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(path, f"missing column(s) {', '.join(missing)} (header: {header})")
        rows = []
        for row in reader:
            extra = row.pop(_EXTRA_CELLS, None)
            if extra is not None and any(cell.strip() for cell in extra):
                raise DataError(
                    path, f"line {reader.line_num}: more cells than the header has columns"
                )
            rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items()})
    except csv.Error as err:
        raise DataError(path, f"line {reader.line_num}: not valid CSV: {err}") from None
    return rows


def read_metadata(path: str | Path) -> dict[str, ImageMeta]:
    """Read ``metadata.csv`` into ``{id: ImageMeta}``.

    Raises :class:`DataError` naming the file and line for a missing column, an empty
    id or city, a GSD that is not a positive finite number (metres per pixel), a city
    that disagrees with the id's ``CITY_`` prefix, or a duplicate id.
    """
    p = Path(path)
    meta, problems = parse_metadata(p)
    if problems:
        raise problems[0].to_error()
    return meta


def parse_metadata(path: str | Path) -> tuple[dict[str, ImageMeta], list[Problem]]:
    """Read ``metadata.csv``, collecting every problem instead of stopping at the first.

    Returns the usable rows as ``{id: ImageMeta}`` (a bad row is left out; of duplicate
    ids the first row is kept) and the problems, each naming the file and the line. A
    missing file or column gives no rows and one problem.
    """
    p = Path(path)
    try:
        rows = read_csv_rows(p, METADATA_COLUMNS)
    except DataError as err:
        return {}, [Problem.from_error(err, "index")]
    out: dict[str, ImageMeta] = {}
    first_line: dict[str, int] = {}
    problems: list[Problem] = []
    for line, row in enumerate(rows, start=2):
        meta_or_problem = _metadata_row(row, line)
        if isinstance(meta_or_problem, str):
            problems.append(Problem(str(p), meta_or_problem, "index"))
            continue
        meta = meta_or_problem
        if meta.id in first_line:
            problems.append(
                Problem(
                    str(p),
                    f"line {line}: duplicate id {meta.id} (first on line {first_line[meta.id]})",
                    "index",
                )
            )
            continue
        first_line[meta.id] = line
        out[meta.id] = meta
    return out, problems


def _metadata_row(row: Mapping[str, str], line: int) -> ImageMeta | str:
    """One metadata row as :class:`ImageMeta`, or the problem with it as a message."""
    image_id = row["id"]
    bad_id = id_problem(image_id)
    if bad_id:
        return f"line {line}: {bad_id}"
    city = row["city"]
    if not city:
        return f"line {line}: id {image_id} has no city"
    if not row["gsd"]:
        return f"line {line}: id {image_id} has no gsd"
    try:
        gsd = float(row["gsd"])
    except ValueError:
        return f"line {line}: id {image_id} has gsd {row['gsd']!r} (need a number, m/px)"
    if not (math.isfinite(gsd) and gsd > 0):
        return f"line {line}: id {image_id} has gsd {gsd} (need > 0 m/px)"
    prefix = city_of(image_id)
    if prefix != city:
        found = f"prefix {prefix!r}" if prefix else "no CITY_ prefix"
        return f"line {line}: city {city!r} of id {image_id} disagrees with its file name ({found})"
    return ImageMeta(image_id, city, gsd, row.get("group") or None)


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV text with a header row (``\\n`` line ends), as the layout's indexes are written."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def write_index(
    root: str | Path,
    train_ids: Sequence[str],
    test_ids: Sequence[str],
    metadata: Mapping[str, ImageMeta],
    *,
    rgb_ext: str = ".j2k",
) -> None:
    """Write ``geopose_train.csv``, ``geopose_test.csv`` and ``metadata.csv`` atomically.

    ``metadata`` must cover every train and test id; the ``group`` column is written
    when any entry has a group.
    """
    r = Path(root)
    missing = [i for i in [*train_ids, *test_ids] if i not in metadata]
    if missing:
        raise ValueError(f"metadata lacks ids: {missing[:5]}")
    train_rows = [(i, agl_name(i), vflow_name(i), rgb_name(i, rgb_ext)) for i in train_ids]
    test_rows = [(i, rgb_name(i, rgb_ext)) for i in test_ids]
    atomic_write_text(r / TRAIN_CSV, csv_text(TRAIN_COLUMNS, train_rows))
    atomic_write_text(r / TEST_CSV, csv_text(TEST_COLUMNS, test_rows))
    with_group = any(m.group is not None for m in metadata.values())
    columns = [*METADATA_COLUMNS, "group"] if with_group else list(METADATA_COLUMNS)
    meta_rows = []
    for i in [*train_ids, *test_ids]:
        m = metadata[i]
        row: list[object] = [m.id, m.city, repr(float(m.gsd))]
        if with_group:
            row.append(m.group or "")
        meta_rows.append(row)
    atomic_write_text(r / METADATA_CSV, csv_text(columns, meta_rows))


def resolve_file(root: Path, split_dir: str, name: str) -> Path:
    """Path of a file named in an index CSV: relative to the split folder, or to ``root``.

    :class:`DataError` naming ``name`` when it is absolute or leads out of ``root``
    (``../x``): an index may only name files inside its layout.
    """
    if Path(name).is_absolute() or "\\" in name:
        raise DataError(
            name, "absolute or backslashed file name in an index (need a name inside the layout)"
        )
    candidate = root / split_dir / name
    if not (candidate.exists() or "/" not in name):
        candidate = root / name
    inside = os.path.normpath(candidate)
    top = os.path.normpath(root)
    if os.path.commonpath([inside, top]) != top:
        raise DataError(name, f"file name leads out of the layout {root}")
    return candidate
