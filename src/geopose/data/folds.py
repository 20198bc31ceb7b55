"""Cross-validation folds over image ids: city-stratified or leak-free by location group.

``city-stratified`` (the 2nd place's choice) spreads every city's images evenly over
the folds; nearby tiles can land in different folds, so validation leaks when tiles
overlap. ``group`` keeps every location group (``metadata.csv`` column ``group``) in a
single fold, so no validation tile has a neighbour in training. Both are deterministic
for a seed and independent of the order of the input.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

from geopose.errors import UsageError
from geopose.io.layout import ImageMeta

SPLITS = ("city-stratified", "group")


def _key(text: str, seed: int) -> str:
    """Order-independent pseudo-random sort key of an id for a seed."""
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def _stratified(metas: Sequence[ImageMeta], folds: int, seed: int) -> dict[str, int]:
    by_city: dict[str, list[str]] = defaultdict(list)
    for m in metas:
        by_city[m.city].append(m.id)
    out: dict[str, int] = {}
    offset = 0
    for city in sorted(by_city):
        ids = sorted(by_city[city], key=lambda i: _key(i, seed))
        for rank, image_id in enumerate(ids):
            out[image_id] = (rank + offset) % folds
        # Rotate the start so small cities do not all fill fold 0 first.
        offset += len(ids)
    return out


def _grouped(metas: Sequence[ImageMeta], folds: int, seed: int) -> dict[str, int]:
    missing = [m.id for m in metas if not m.group]
    if missing:
        raise UsageError(
            f"data.split=group needs a 'group' for every image in metadata.csv; "
            f"{len(missing)} have none (e.g. {missing[0]})"
        )
    members: dict[str, list[str]] = defaultdict(list)
    for m in metas:
        members[f"{m.city}/{m.group}"].append(m.id)
    if len(members) < folds:
        raise UsageError(f"data.split=group: {len(members)} groups cannot fill {folds} folds")
    # Greedy balancing: largest groups first, each to the fold holding the fewest
    # images of that group's city (then the fewest overall).
    sizes = [0] * folds
    city_sizes: dict[str, list[int]] = defaultdict(lambda: [0] * folds)
    out: dict[str, int] = {}
    order = sorted(members, key=lambda g: (-len(members[g]), _key(g, seed)))
    for group in order:
        city = group.split("/", 1)[0]
        fold = min(range(folds), key=lambda f: (city_sizes[city][f], sizes[f], f))
        for image_id in members[group]:
            out[image_id] = fold
        sizes[fold] += len(members[group])
        city_sizes[city][fold] += len(members[group])
    return out


def assign_folds(
    metas: Iterable[ImageMeta], folds: int, split: str = "city-stratified", seed: int = 0
) -> dict[str, int]:
    """Map every image id to a fold in ``0 .. folds-1``."""
    items = list(metas)
    if folds < 2:
        raise UsageError(f"need at least 2 folds, got {folds}")
    if split == "city-stratified":
        return _stratified(items, folds, seed)
    if split == "group":
        return _grouped(items, folds, seed)
    raise UsageError(f"data.split {split!r}: choose one of {', '.join(SPLITS)}")


def split_ids(
    metas: Iterable[ImageMeta],
    folds: int,
    fold: int,
    split: str = "city-stratified",
    seed: int = 0,
) -> tuple[list[str], list[str]]:
    """(training ids, validation ids) for validation fold ``fold``; both sorted."""
    if not 0 <= fold < folds:
        raise UsageError(f"fold {fold} is outside 0..{folds - 1}")
    assignment = assign_folds(metas, folds, split, seed)
    train = sorted(i for i, f in assignment.items() if f != fold)
    val = sorted(i for i, f in assignment.items() if f == fold)
    return train, val
