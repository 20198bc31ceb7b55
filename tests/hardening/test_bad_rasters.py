"""Broken RGB files through ``predict`` and ``check``: each named, the rest written.

One layout holds every case of :data:`hardening.zoo.BAD` (truncated, corrupt and
zero-byte JPEG 2000 and GeoTIFF files, a text file, 16-bit, float and one-band rasters,
an id naming no file) beside the good tiles, a four-band (RGBA) tile and a 5×5 px tile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from geopose.io import read_agl, read_vflow
from hardening.harness import (
    assert_clean_failure,
    geopose,
    ids_of,
    leftovers,
    written_ids,
)
from hardening.zoo import ALSO_GOOD, BAD, raster_zoo


@pytest.fixture(scope="module")
def zoo(layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return raster_zoo(layout, tmp_path_factory.mktemp("zoo") / "data")


def _skipped_lines(text: str) -> dict[str, str]:
    """``{id: problem}`` from predict's 'skipped' list on stdout."""
    lines = text.split("skipped", 1)[-1].splitlines()[1:]
    return {
        line.strip().split(":", 1)[0]: line.strip().split(":", 1)[1]
        for line in lines
        if line.startswith("  ")
    }


def test_predict_names_every_bad_image_and_writes_every_good_one(
    zoo: Path, tiny_ckpt: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    ran = geopose(
        "predict", "--checkpoint", tiny_ckpt, "--data", zoo, "--out", out,
        "--tta", "none", "--window", "64", "--overlap", "16", "--batch-size", "3",
        "--no-progress",
    )  # fmt: skip
    assert_clean_failure(ran, 1, *BAD.values())
    skipped = _skipped_lines(ran.out)
    assert set(skipped) == set(BAD), ran.out
    for image_id, problem in skipped.items():
        assert BAD[image_id] in problem
        assert "\n" not in problem
    good = set(ids_of(zoo, "test")) - set(BAD)
    assert set(ALSO_GOOD) <= good
    assert written_ids(out) == good
    for image_id in good:
        agl = read_agl(out / f"{image_id}_AGL.tif")
        assert agl.shape[0] >= 5
        assert not (agl != agl).all()  # some pixel predicted
        read_vflow(out / f"{image_id}_VFLOW.json")
    assert leftovers(out) == []

    # A rerun does only what is missing: the good ids are complete, the bad still named.
    again = geopose(
        "predict", "--checkpoint", tiny_ckpt, "--data", zoo, "--out", out,
        "--tta", "none", "--window", "64", "--overlap", "16", "--batch-size", "3",
        "--no-progress",
    )  # fmt: skip
    assert_clean_failure(again, 1)
    assert "wrote 0 prediction(s)" in again.out
    assert f"{len(good)} already complete" in again.out


@pytest.mark.parametrize("full", [False, True], ids=["fast", "full"])
def test_check_names_every_bad_image(zoo: Path, full: bool) -> None:
    ran = geopose("check", zoo, "--no-progress", "--workers", "1", *(["--full"] if full else []))
    assert_clean_failure(ran, 1)
    problems = [line.strip() for line in ran.out.splitlines() if line.startswith("  ")]
    problems = [p for p in problems if "_RGB." in p.split(":", 1)[0]]
    named = {Path(p.split(":", 1)[0]).name.split("_RGB")[0] for p in problems}
    assert named == set(BAD), ran.out
    for image_id in ALSO_GOOD:
        assert image_id not in ran.out
