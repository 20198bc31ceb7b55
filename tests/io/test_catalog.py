"""Layout reading: entries per split, and the problems that make a layout unusable."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from geopose.errors import DataError
from geopose.io.catalog import open_layout, scan_layout
from geopose.io.layout import read_metadata


def test_clean_layout_entries(layout_root: Path) -> None:
    layout = open_layout(layout_root)
    train = layout.entries("train")
    assert [e.id for e in train] == ["JAX_001", "JAX_002", "OMA_001"]
    jax = train[0]
    assert (jax.city, jax.gsd, jax.group) == ("JAX", pytest.approx(0.30), "g0")
    assert jax.rgb == layout_root / "train" / "JAX_001_RGB.j2k"
    assert jax.agl == layout_root / "train" / "JAX_001_AGL.tif"
    assert jax.vflow == layout_root / "train" / "JAX_001_VFLOW.json"
    assert jax.has_labels
    test = layout.entries("test")
    assert [(e.id, e.city, e.has_labels) for e in test] == [
        ("JAX_101", "JAX", False),
        ("OMA_101", "OMA", False),
    ]
    assert not layout.has_test_truth
    assert layout.entries("test_truth") == ()
    assert len(list(layout)) == 5
    assert layout.entry("OMA_001").gsd == pytest.approx(0.32)


def test_test_truth_split_pairs_test_rgb_with_labels(make_layout: object) -> None:
    root = make_layout(truth=True)  # type: ignore[operator]
    layout = open_layout(root)
    assert layout.has_test_truth
    truth = layout.entries("test_truth")
    assert [e.id for e in truth] == ["JAX_101", "OMA_101"]
    assert truth[0].rgb == root / "test" / "JAX_101_RGB.j2k"
    assert truth[0].agl == root / "test_truth" / "JAX_101_AGL.tif"
    assert truth[0].has_labels


def test_root_relative_names_in_csv(layout_root: Path, kit: SimpleNamespace) -> None:
    def prefix(rows: list[list[str]]) -> list[list[str]]:
        return [rows[0]] + [[r[0]] + [f"train/{c}" for c in r[1:]] for r in rows[1:]]

    kit.rewrite_csv(layout_root / "geopose_train.csv", prefix)
    e = open_layout(layout_root).entry("JAX_002")
    assert e.rgb == layout_root / "train" / "JAX_002_RGB.j2k"
    assert e.agl.is_file()


def test_city_disagreeing_with_prefix(layout_root: Path, kit: SimpleNamespace) -> None:
    def swap(rows: list[list[str]]) -> list[list[str]]:
        return [[*r[:1], "OMA", *r[2:]] if r[0] == "JAX_002" else r for r in rows]

    kit.rewrite_csv(layout_root / "metadata.csv", swap)
    with pytest.raises(DataError, match=r"metadata\.csv: line 3: city 'OMA' of id JAX_002"):
        open_layout(layout_root)
    with pytest.raises(DataError, match="disagrees with its file name"):
        read_metadata(layout_root / "metadata.csv")


def test_duplicate_id_in_index(layout_root: Path, kit: SimpleNamespace) -> None:
    kit.rewrite_csv(layout_root / "geopose_train.csv", lambda rows: [*rows, rows[1]])
    with pytest.raises(DataError, match=r"geopose_train\.csv: line 5: duplicate id JAX_001"):
        open_layout(layout_root)


def test_duplicate_id_in_metadata(layout_root: Path, kit: SimpleNamespace) -> None:
    kit.rewrite_csv(layout_root / "metadata.csv", lambda rows: [*rows, rows[2]])
    with pytest.raises(DataError, match=r"metadata\.csv: line 7: duplicate id JAX_002 \(first"):
        open_layout(layout_root)


def test_id_in_train_and_test(layout_root: Path, kit: SimpleNamespace) -> None:
    kit.rewrite_csv(
        layout_root / "geopose_test.csv", lambda rows: [*rows, ["JAX_001", "JAX_001_RGB.j2k"]]
    )
    problems = [str(p) for p in scan_layout(layout_root).problems]
    assert any(
        "geopose_test.csv: id JAX_001 is also listed in geopose_train.csv" in p for p in problems
    )


@pytest.mark.parametrize(
    ("csv_name", "column"),
    [("geopose_train.csv", "json"), ("geopose_test.csv", "rgb"), ("metadata.csv", "gsd")],
)
def test_missing_column(
    layout_root: Path, kit: SimpleNamespace, csv_name: str, column: str
) -> None:
    def drop(rows: list[list[str]]) -> list[list[str]]:
        k = rows[0].index(column)
        return [r[:k] + r[k + 1 :] for r in rows]

    kit.rewrite_csv(layout_root / csv_name, drop)
    with pytest.raises(DataError, match=rf"{csv_name}: missing column\(s\) {column}"):
        open_layout(layout_root)


def test_missing_csv(layout_root: Path) -> None:
    (layout_root / "metadata.csv").unlink()
    with pytest.raises(DataError, match=r"metadata\.csv: file not found"):
        open_layout(layout_root)


@pytest.mark.parametrize(
    ("cell", "message"), [("", "has no gsd"), ("-1", "need > 0"), ("abc", "need a number")]
)
def test_bad_gsd(layout_root: Path, kit: SimpleNamespace, cell: str, message: str) -> None:
    def edit(rows: list[list[str]]) -> list[list[str]]:
        return [[r[0], r[1], cell, *r[3:]] if r[0] == "OMA_001" else r for r in rows]

    kit.rewrite_csv(layout_root / "metadata.csv", edit)
    problems = scan_layout(layout_root).problems
    assert any(p.path.endswith("metadata.csv") and "OMA_001" in p.message for p in problems)
    with pytest.raises(DataError, match=message):
        open_layout(layout_root)


def test_id_missing_from_metadata(layout_root: Path, kit: SimpleNamespace) -> None:
    kit.rewrite_csv(
        layout_root / "metadata.csv", lambda rows: [r for r in rows if r[0] != "OMA_101"]
    )
    scan = scan_layout(layout_root)
    assert [str(p) for p in scan.problems] == [
        f"{layout_root / 'metadata.csv'}: no usable row for id OMA_101 (listed in the test index)"
    ]
    assert [e.id for e in scan.layout.entries("test")] == ["JAX_101"]
    with pytest.raises(DataError, match="no usable row for id OMA_101"):
        open_layout(layout_root)


def test_missing_and_unexpected_files(layout_root: Path) -> None:
    (layout_root / "train" / "OMA_001_AGL.tif").unlink()
    (layout_root / "train" / "stray.txt").write_text("x")
    (layout_root / "train" / ".hidden").write_text("x")
    scan = scan_layout(layout_root)
    assert sorted((Path(p.path).name, p.kind) for p in scan.problems) == [
        ("OMA_001_AGL.tif", "missing"),
        ("stray.txt", "unexpected"),
    ]
    with pytest.raises(DataError, match=r"OMA_001_AGL\.tif: missing file"):
        open_layout(layout_root)


def test_unexpected_file_alone_does_not_stop_open(layout_root: Path) -> None:
    (layout_root / "test" / "notes.txt").write_text("x")
    assert len(open_layout(layout_root).entries("test")) == 2


def test_wrong_names_in_index(layout_root: Path, kit: SimpleNamespace) -> None:
    def edit(rows: list[list[str]]) -> list[list[str]]:
        out = [rows[0]]
        for r in rows[1:]:
            if r[0] == "JAX_001":
                r = [r[0], "JAX_002_AGL.tif", r[2], "JAX_001_RGB.txt"]
            out.append(r)
        return out

    kit.rewrite_csv(layout_root / "geopose_train.csv", edit)
    messages = [p.message for p in scan_layout(layout_root).problems if p.kind == "index"]
    assert any("'JAX_002_AGL.tif', which is not a file of that id" in m for m in messages)
    assert any("'JAX_001_RGB.txt' (expected a" in m for m in messages)


def test_missing_test_truth_label(make_layout: object) -> None:
    root = make_layout(truth=True)  # type: ignore[operator]
    (root / "test_truth" / "OMA_101_VFLOW.json").unlink()
    scan = scan_layout(root)
    assert [(Path(p.path).name, p.message) for p in scan.problems] == [
        ("OMA_101_VFLOW.json", "missing label of a test id file (id OMA_101)")
    ]


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a directory"):
        open_layout(tmp_path / "nothing")
