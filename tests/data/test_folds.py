"""Fold assignment: coverage, balance, group integrity, determinism."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geopose.data.folds import assign_folds, split_ids
from geopose.errors import UsageError
from geopose.io.layout import ImageMeta


def _metas(spec: dict[str, list[int]]) -> list[ImageMeta]:
    """spec: city -> sizes of its groups."""
    out = []
    for city, sizes in spec.items():
        for g, size in enumerate(sizes):
            out += [ImageMeta(f"{city}_g{g}_{k}", city, 0.3, f"d{g}") for k in range(size)]
    return out


def test_stratified_balances_each_city() -> None:
    metas = _metas({"ARG": [7, 6], "JAX": [5], "OMA": [3, 3, 3]})
    folds = assign_folds(metas, 5)
    for city in ("ARG", "JAX", "OMA"):
        counts = Counter(folds[m.id] for m in metas if m.city == city)
        assert max(counts.values()) - min(counts.get(f, 0) for f in range(5)) <= 1


def test_group_split_never_separates_a_group() -> None:
    metas = _metas({"ARG": [4, 3, 5, 2], "ATL": [6, 1, 2]})
    folds = assign_folds(metas, 3, split="group")
    for m in metas:
        same = {folds[o.id] for o in metas if o.city == m.city and o.group == m.group}
        assert len(same) == 1
    train, val = split_ids(metas, 3, 1, split="group")
    val_groups = {(m.city, m.group) for m in metas if m.id in val}
    assert not any((m.city, m.group) in val_groups for m in metas if m.id in train)


@settings(max_examples=30, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["ARG", "ATL", "JAX", "OMA"]),
        st.lists(st.integers(1, 6), min_size=1, max_size=6),
        min_size=1,
    ),
    st.integers(2, 4),
    st.sampled_from(["city-stratified", "group"]),
)
def test_every_id_once_and_order_independent(
    spec: dict[str, list[int]], folds: int, split: str
) -> None:
    metas = _metas(spec)
    groups = sum(len(v) for v in spec.values())
    if split == "group" and groups < folds:
        with pytest.raises(UsageError, match="groups cannot fill"):
            assign_folds(metas, folds, split)
        return
    a = assign_folds(metas, folds, split, seed=3)
    b = assign_folds(list(reversed(metas)), folds, split, seed=3)
    assert a == b
    assert set(a) == {m.id for m in metas}
    parts = [split_ids(metas, folds, f, split, seed=3)[1] for f in range(folds)]
    assert sorted(i for p in parts for i in p) == sorted(m.id for m in metas)


def test_group_split_needs_groups() -> None:
    metas = [ImageMeta("ARG_1", "ARG", 0.3), ImageMeta("ARG_2", "ARG", 0.3)]
    with pytest.raises(UsageError, match="needs a 'group'"):
        assign_folds(metas, 2, split="group")
    with pytest.raises(UsageError, match="outside"):
        split_ids(metas, 2, 2)
