"""Reading a competition layout (DESIGN.md §3) into entries: id, city, GSD, group, paths.

Two readers share one scan:

- :func:`open_layout` is strict: it raises :class:`DataError` naming the file for the
  first problem that makes the layout unusable (a missing CSV or column, a duplicate
  id, an id without metadata, a city that disagrees with the id's prefix, a listed
  file that does not exist). Files that no index lists are ignored.
- :func:`scan_layout` collects every problem it can find from the indexes and the
  folder listings, without opening any image; ``geopose check`` builds on it.

Splits: ``train`` (labelled), ``test`` (RGB only) and, when the ``test_truth/`` folder
exists, ``test_truth``: the test ids with the RGB from ``test/`` and the labels from
``test_truth/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from geopose.errors import DataError
from geopose.io.layout import (
    METADATA_CSV,
    TEST,
    TEST_COLUMNS,
    TEST_CSV,
    TEST_DIR,
    TEST_TRUTH,
    TRAIN,
    TRAIN_COLUMNS,
    TRAIN_CSV,
    TRAIN_DIR,
    TRUTH_DIR,
    Entry,
    ImageMeta,
    Layout,
    agl_name,
    id_from_filename,
    id_problem,
    parse_metadata,
    read_csv_rows,
    resolve_file,
    vflow_name,
)
from geopose.io.problem import Problem
from geopose.io.raster import RGB_SUFFIXES

_KIND_SUFFIXES = {"rgb": RGB_SUFFIXES, "agl": (".tif", ".tiff"), "json": (".json",)}


@dataclass(frozen=True)
class IndexRow:
    """One image as the indexes list it, before metadata is joined in.

    Paths are resolved against the layout root; ``None`` when the index leaves the cell
    empty or the split has no such file.
    """

    split: str
    id: str
    rgb: Path | None
    agl: Path | None = None
    vflow: Path | None = None


@dataclass
class LayoutScan:
    """What :func:`scan_layout` found: the usable layout, every indexed row, the problems."""

    layout: Layout
    rows: list[IndexRow]
    problems: list[Problem] = field(default_factory=list)
    unused_metadata: int = 0


def open_layout(root: str | Path) -> Layout:
    """Read a layout strictly (see the module text); files nobody lists are ignored."""
    scan = scan_layout(root)
    for problem in scan.problems:
        if problem.kind != "unexpected":
            raise problem.to_error()
    return scan.layout


def scan_layout(root: str | Path) -> LayoutScan:
    """Read the indexes and list the folders of a layout, collecting every problem.

    Checks: the CSVs exist and have their columns; no id twice (in a CSV, in both
    splits, in ``metadata.csv``); every id has metadata with a city (equal to its
    ``CITY_`` prefix) and a positive GSD; listed names have the right suffix and id;
    listed files exist; ``test_truth/`` (when present) holds both labels of every test
    id; no split folder holds files that no index lists. Images are not opened.
    """
    r = Path(root)
    if not r.is_dir():
        raise DataError(r, "not a directory")
    problems: list[Problem] = []
    metadata, meta_problems = parse_metadata(r / METADATA_CSV)
    problems += meta_problems
    rows = _read_train(r, problems) + _read_test(r, problems)
    _flag_cross_split_duplicates(r, rows, problems)
    if (r / TRUTH_DIR).is_dir():
        rows += [_truth_row(r, row) for row in rows if row.split == TEST]
    _flag_missing_files(rows, problems)
    _flag_unexpected_files(r, rows, problems)
    splits, meta_used = _join_metadata(r, rows, metadata, problems)
    layout = Layout(root=r, splits=splits, metadata=metadata)
    return LayoutScan(layout, rows, problems, unused_metadata=len(set(metadata) - meta_used))


# ----------------------------------------------------------------------------- indexes
def _read_train(root: Path, problems: list[Problem]) -> list[IndexRow]:
    return _read_index(root, TRAIN_CSV, TRAIN_DIR, TRAIN, TRAIN_COLUMNS, problems)


def _read_test(root: Path, problems: list[Problem]) -> list[IndexRow]:
    return _read_index(root, TEST_CSV, TEST_DIR, TEST, TEST_COLUMNS, problems)


def _read_index(
    root: Path,
    csv_name: str,
    split_dir: str,
    split: str,
    columns: tuple[str, ...],
    problems: list[Problem],
) -> list[IndexRow]:
    """Rows of one index CSV; a CSV that is absent while its folder is absent is fine."""
    path = root / csv_name
    if not path.exists() and not (root / split_dir).exists():
        return []
    try:
        raw_rows = read_csv_rows(path, columns)
    except DataError as err:
        problems.append(Problem.from_error(err, "index"))
        return []
    rows: list[IndexRow] = []
    first_line: dict[str, int] = {}
    for line, raw in enumerate(raw_rows, start=2):
        image_id = raw["id"]
        bad_id = id_problem(image_id)
        if bad_id:
            problems.append(Problem(str(path), f"line {line}: {bad_id}", "index"))
            continue
        if image_id in first_line:
            msg = f"line {line}: duplicate id {image_id} (first on line {first_line[image_id]})"
            problems.append(Problem(str(path), msg, "index"))
            continue
        first_line[image_id] = line
        files = {
            kind: _cell_path(root, split_dir, path, line, image_id, kind, raw[kind], problems)
            for kind in columns[1:]
        }
        rows.append(
            IndexRow(split, image_id, files.get("rgb"), files.get("agl"), files.get("json"))
        )
    return rows


def _cell_path(
    root: Path,
    split_dir: str,
    csv_path: Path,
    line: int,
    image_id: str,
    kind: str,
    name: str,
    problems: list[Problem],
) -> Path | None:
    """Resolve one file cell of an index row, flagging an empty cell or a wrong name."""
    where = f"line {line}: column {kind!r} of id {image_id}"
    if not name:
        problems.append(Problem(str(csv_path), f"{where} is empty", "index"))
        return None
    base = Path(name).name
    if not base.lower().endswith(_KIND_SUFFIXES[kind]):
        msg = f"{where} names {name!r} (expected a {'/'.join(_KIND_SUFFIXES[kind])} file)"
        problems.append(Problem(str(csv_path), msg, "index"))
    elif id_from_filename(base) != image_id:
        msg = f"{where} names {name!r}, which is not a file of that id"
        problems.append(Problem(str(csv_path), msg, "index"))
    try:
        return resolve_file(root, split_dir, name)
    except DataError as err:
        problems.append(Problem(str(csv_path), f"{where}: {name!r}: {err.problem}", "index"))
        return None


def _truth_row(root: Path, test_row: IndexRow) -> IndexRow:
    truth = root / TRUTH_DIR
    return IndexRow(
        TEST_TRUTH,
        test_row.id,
        test_row.rgb,
        truth / agl_name(test_row.id),
        truth / vflow_name(test_row.id),
    )


def _flag_cross_split_duplicates(root: Path, rows: list[IndexRow], problems: list[Problem]) -> None:
    train_ids = {row.id for row in rows if row.split == TRAIN}
    for row in rows:
        if row.split == TEST and row.id in train_ids:
            msg = f"id {row.id} is also listed in {TRAIN_CSV}"
            problems.append(Problem(str(root / TEST_CSV), msg, "index"))


# ----------------------------------------------------------------------------- files
def _flag_missing_files(rows: list[IndexRow], problems: list[Problem]) -> None:
    seen: set[Path] = set()
    for row in rows:
        for path in (row.rgb, row.agl, row.vflow):
            if path is None or path in seen:
                continue
            seen.add(path)
            if not path.is_file():
                what = "label of a test id " if row.split == TEST_TRUTH else ""
                problems.append(Problem(str(path), f"missing {what}file (id {row.id})", "missing"))


def _flag_unexpected_files(root: Path, rows: list[IndexRow], problems: list[Problem]) -> None:
    """Flag files in the split folders that no index lists (hidden files are skipped)."""
    listed = {p.resolve() for row in rows for p in (row.rgb, row.agl, row.vflow) if p}
    indexed_dirs = {TRAIN_DIR: TRAIN, TEST_DIR: TEST, TRUTH_DIR: TEST_TRUTH}
    readable_splits = {row.split for row in rows}
    for folder, split in indexed_dirs.items():
        d = root / folder
        # Without a readable index every file would look unexpected: say nothing.
        if not d.is_dir() or (split not in readable_splits and split != TEST_TRUTH):
            continue
        for path in sorted(d.iterdir()):
            if path.name.startswith("."):
                continue
            if path.resolve() not in listed:
                what = "folder" if path.is_dir() else "file"
                problems.append(
                    Problem(str(path), f"unexpected {what}: no index lists it", "unexpected")
                )


# ----------------------------------------------------------------------------- metadata
def _join_metadata(
    root: Path,
    rows: list[IndexRow],
    metadata: Mapping[str, ImageMeta],
    problems: list[Problem],
) -> tuple[dict[str, tuple[Entry, ...]], set[str]]:
    """Entries of every split (rows without metadata are flagged and left out)."""
    splits: dict[str, list[Entry]] = {TRAIN: [], TEST: []}
    if (root / TRUTH_DIR).is_dir():
        splits[TEST_TRUTH] = []
    used: set[str] = set()
    for row in rows:
        meta = metadata.get(row.id)
        if meta is None:
            if row.split != TEST_TRUTH:  # already flagged for its test row
                msg = f"no usable row for id {row.id} (listed in the {row.split} index)"
                problems.append(Problem(str(root / METADATA_CSV), msg, "index"))
            continue
        used.add(row.id)
        if row.rgb is None:
            continue
        splits[row.split].append(
            Entry(row.id, row.split, meta.city, meta.gsd, row.rgb, row.agl, row.vflow, meta.group)
        )
    return {k: tuple(v) for k, v in splits.items()}, used
