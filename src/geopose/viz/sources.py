"""Where the report finds truth for a prediction folder.

Two sources, like ``geopose evaluate`` and a competition layout:

- a truth folder with ``{id}_AGL.tif`` + ``{id}_VFLOW.json`` (``--truth``); the RGB is
  looked up as ``{id}_RGB.*`` in that folder, then in its sibling ``test/`` folder;
- a layout root (``--data``): its ``test_truth`` split when any predicted id is in it,
  otherwise the ``train`` entries of the predicted ids (predictions on held-out
  training tiles).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from geopose.errors import DataError
from geopose.io.catalog import open_layout
from geopose.io.layout import TEST_DIR, TEST_TRUTH, TRAIN, VFLOW_SUFFIX, agl_name, city_of, rgb_name
from geopose.io.raster import RGB_SUFFIXES


@dataclass(frozen=True)
class TruthItem:
    """The label files of one image, its city and its RGB file (None when not found).

    ``complete`` says whether the id belongs to a complete truth set, whose ids all
    need a prediction (a missing one makes its city score 0, as in the official
    scorer), as opposed to truth looked up only for the ids that were predicted.
    """

    id: str
    city: str
    agl: Path
    vflow: Path
    rgb: Path | None
    complete: bool = True


def find_rgb(image_id: str, folders: Sequence[Path]) -> Path | None:
    """First existing ``{id}_RGB{ext}`` over ``folders`` and the known RGB suffixes."""
    for folder in folders:
        for ext in RGB_SUFFIXES:
            candidate = folder / rgb_name(image_id, ext)
            if candidate.is_file():
                return candidate
    return None


def truth_from_folder(truth_dir: Path) -> dict[str, TruthItem]:
    """Truth items of every ``*_VFLOW.json`` in ``truth_dir`` (sorted by id)."""
    if not truth_dir.is_dir():
        raise DataError(truth_dir, "truth folder not found")
    items = {}
    rgb_folders = [truth_dir, truth_dir.parent / TEST_DIR]
    for path in sorted(truth_dir.glob(f"*{VFLOW_SUFFIX}")):
        image_id = path.name[: -len(VFLOW_SUFFIX)]
        items[image_id] = TruthItem(
            image_id,
            city_of(image_id) or "?",
            truth_dir / agl_name(image_id),
            path,
            find_rgb(image_id, rgb_folders),
        )
    return items


def truth_from_layout(data_dir: Path, pred_ids: Iterable[str]) -> dict[str, TruthItem]:
    """Truth items from a layout root for the predicted ids (see the module text)."""
    layout = open_layout(data_dir)
    wanted = set(pred_ids)
    test_truth = [e for e in layout.entries(TEST_TRUTH) if e.has_labels]
    if test_truth and any(e.id in wanted for e in test_truth):
        chosen, complete = test_truth, True
    else:
        chosen = [e for e in layout.entries(TRAIN) if e.id in wanted and e.has_labels]
        complete = False
    items = {}
    for e in sorted(chosen, key=lambda e: e.id):
        if e.agl is None or e.vflow is None:  # has_labels checked; keeps mypy informed
            continue
        items[e.id] = TruthItem(e.id, e.city, e.agl, e.vflow, e.rgb, complete)
    return items


def pick_tiles(items: Iterable[TruthItem], count: int) -> list[str]:
    """Up to ``count`` ids for the tile panels, taken in turn from each city (sorted)."""
    by_city: dict[str, list[str]] = {}
    for item in items:
        by_city.setdefault(item.city, []).append(item.id)
    queues = [sorted(ids) for _, ids in sorted(by_city.items())]
    picked: list[str] = []
    depth = 0
    while len(picked) < count and any(depth < len(q) for q in queues):
        picked += [q[depth] for q in queues if depth < len(q)][: count - len(picked)]
        depth += 1
    return picked
