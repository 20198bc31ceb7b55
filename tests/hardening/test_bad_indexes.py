"""Broken ``metadata.csv`` and split CSVs: a missing or extra column, a BOM, CRLF line
ends, duplicate ids, an id naming no file, non-UTF-8 bytes, path-traversing names.

The matrix runs ``geopose check`` in this process (``geopose.cli.main``: the same code
as the command, without a child's start-up time per case); the worst layout then goes
through ``geopose predict`` in a child process, which must write the good images, name
the bad rows, exit 1 and write nothing outside its output folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from geopose.cli import main
from hardening.harness import (
    assert_clean_failure,
    copy_layout,
    geopose,
    ids_of,
    leftovers,
    written_ids,
)

META, TEST, TRAIN = "metadata.csv", "geopose_test.csv", "geopose_train.csv"


def _edit(name: str, fn: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / name
        path.write_bytes(fn(path.read_bytes()))

    return apply


def _drop_column(col: int) -> Callable[[bytes], bytes]:
    def fn(data: bytes) -> bytes:
        rows = [line.split(b",") for line in data.splitlines()]
        return b"\n".join(b",".join(r[:col] + r[col + 1 :]) for r in rows) + b"\n"

    return fn


def _extra_column(data: bytes) -> bytes:
    lines = data.splitlines()
    return b"\n".join([lines[0] + b",note"] + [x + b",hello" for x in lines[1:]]) + b"\n"


def _duplicate_last(data: bytes) -> bytes:
    return data + data.splitlines()[-1] + b"\n"


def _append(row: bytes) -> Callable[[bytes], bytes]:
    return lambda data: data + row + b"\n"


#: case → (edit, exit code of check, fragment of what check says).
CASES: dict[str, tuple[Callable[[Path], None], int, str]] = {
    "meta-missing-column": (_edit(META, _drop_column(2)), 1, "missing column(s) gsd"),
    "meta-extra-column": (_edit(META, _extra_column), 0, "no problems found"),
    "meta-bom": (_edit(META, lambda d: b"\xef\xbb\xbf" + d), 0, "no problems found"),
    "meta-crlf": (_edit(META, lambda d: d.replace(b"\n", b"\r\n")), 0, "no problems found"),
    "meta-duplicate-id": (_edit(META, _duplicate_last), 1, "duplicate id"),
    "meta-non-utf8": (_edit(META, _append(b"JAX_x\xe9,JAX,0.3")), 1, "cannot read"),
    "meta-traversing-id": (_edit(META, _append(b"JAX_/../x,JAX,0.3")), 1, "path separator"),
    "meta-hidden-id": (_edit(META, _append(b"..,JAX,0.3")), 1, "starts with '.'"),
    "test-missing-column": (_edit(TEST, _drop_column(1)), 1, "missing column(s) rgb"),
    "test-extra-column": (_edit(TEST, _extra_column), 0, "no problems found"),
    "test-bom": (_edit(TEST, lambda d: b"\xef\xbb\xbf" + d), 0, "no problems found"),
    "test-crlf": (_edit(TEST, lambda d: d.replace(b"\n", b"\r\n")), 0, "no problems found"),
    "test-duplicate-id": (_edit(TEST, _duplicate_last), 1, "duplicate id"),
    "test-extra-cell": (
        _edit(TEST, _append(b"JAX_x,JAX_x_RGB.j2k,surprise")),
        1,
        "more cells than the header has columns",
    ),
    "meta-stray-carriage-return": (
        _edit(META, _append(b'JAX_cr,JAX,"0.3\r"')),
        0,
        "metadata rows for unlisted ids: 1",
    ),
    "test-id-without-file": (
        _edit(TEST, _append(b"JAX_ghost,JAX_ghost_RGB.j2k")),
        1,
        "JAX_ghost_RGB.j2k: missing file",
    ),
    "test-non-utf8": (_edit(TEST, _append(b"JAX_\xff,JAX_\xff_RGB.j2k")), 1, "cannot read"),
    "test-traversing-name": (
        _edit(TEST, _append(b"JAX_up,../../../JAX_up_RGB.j2k")),
        1,
        "leads out of the layout",
    ),
    "test-absolute-name": (
        _edit(TEST, _append(b"JAX_abs,/etc/JAX_abs_RGB.j2k")),
        1,
        "absolute",
    ),
    "test-traversing-id": (
        _edit(TEST, _append(b"JAX_a/../../../evil,JAX_a/../../../evil_RGB.j2k")),
        1,
        "path separator",
    ),
    "train-missing-column": (_edit(TRAIN, _drop_column(2)), 1, "missing column(s) json"),
    "train-crlf-bom": (
        _edit(TRAIN, lambda d: b"\xef\xbb\xbf" + d.replace(b"\n", b"\r\n")),
        0,
        "no problems found",
    ),
    "train-duplicate-id": (_edit(TRAIN, _duplicate_last), 1, "duplicate id"),
    "train-traversing-agl": (
        _edit(TRAIN, lambda d: d.replace(b"_AGL.tif", b"_AGL.tif/../../../../x_AGL.tif", 1)),
        1,
        "geopose_train.csv",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_says_what_is_wrong_with_an_index(
    case: str, layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, code, fragment = CASES[case]
    root = copy_layout(layout, tmp_path / "data")
    edit(root)
    got = main(["check", str(root), "--no-progress", "--workers", "1"])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert got == code, text
    assert fragment in text, text
    assert "Traceback" not in text
    if code:
        problems = [line for line in captured.out.splitlines() if line.startswith("  /")]
        assert problems, text
        assert all(line.strip().startswith(str(root)) or "../" in line for line in problems)


def test_predict_on_hostile_indexes_writes_the_good_and_nothing_outside(
    layout: Path, tiny_ckpt: Path, tmp_path: Path
) -> None:
    root = copy_layout(layout, tmp_path / "deep" / "er" / "data")
    good = ids_of(root, "test")
    for name in (
        "test-duplicate-id",
        "test-id-without-file",
        "test-traversing-name",
        "test-traversing-id",
        "meta-traversing-id",
    ):
        CASES[name][0](root)
    # A GSD of NaN for one good image: it is named and skipped, not predicted.
    meta = root / META
    nan_id = good[-1]
    meta.write_text(
        "".join(
            f"{nan_id},{nan_id.split('_')[0]},nan\n" if line.startswith(nan_id + ",") else line
            for line in meta.read_text().splitlines(keepends=True)
        )
    )
    out = tmp_path / "deep" / "er" / "out"
    before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(out)}
    ran = geopose(
        "predict", "--checkpoint", tiny_ckpt, "--data", root, "--out", out, "--tta", "none",
        "--no-progress",
    )  # fmt: skip
    assert_clean_failure(ran, 1, "JAX_ghost", "path separator", "leads out of the layout", nan_id)
    assert "duplicate id" in ran.out
    assert "has gsd nan" in ran.out
    assert written_ids(out) == set(good) - {nan_id}
    after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(out)}
    assert after == before, sorted(map(str, after - before))
    assert leftovers(out) == []
