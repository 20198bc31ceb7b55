"""VFLOW JSON: px/cm on disk ↔ px/m in memory; bad files name file and problem."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from geopose.errors import DataError
from geopose.io.vflow import read_vflow, write_vflow


def test_reads_px_per_cm_as_px_per_m(tmp_path: Path) -> None:
    path = tmp_path / "a_VFLOW.json"
    path.write_text(json.dumps({"scale": 0.0123, "angle": 1.5}))
    scale, angle = read_vflow(path)
    assert scale == pytest.approx(1.23)
    assert angle == 1.5


def test_write_stores_px_per_cm_and_wraps_angle(tmp_path: Path) -> None:
    path = tmp_path / "a_VFLOW.json"
    write_vflow(path, 2.5, -math.pi / 2)
    on_disk = json.loads(path.read_text())
    assert on_disk["scale"] == pytest.approx(0.025)
    assert on_disk["angle"] == pytest.approx(3 * math.pi / 2)
    assert read_vflow(path) == pytest.approx((2.5, 3 * math.pi / 2))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"scale": math.nan, "angle": 0.1}, "scale is not finite"),
        ({"scale": -0.01, "angle": 0.1}, "scale is negative"),
        ({"scale": 0.01, "angle": math.inf}, "angle is not finite"),
        ({"angle": 0.1}, "missing key"),
        ({"scale": "x", "angle": 0.1}, "must be numbers"),
    ],
)
def test_bad_values_name_file_and_problem(
    tmp_path: Path, kit: SimpleNamespace, payload: dict[str, object], message: str
) -> None:
    path = tmp_path / "b_VFLOW.json"
    kit.write_json(path, payload)
    with pytest.raises(DataError, match=message) as err:
        read_vflow(path)
    assert err.value.path == str(path)


def test_unchecked_read_keeps_nan(tmp_path: Path, kit: SimpleNamespace) -> None:
    path = tmp_path / "n_VFLOW.json"
    kit.write_json(path, {"scale": math.nan, "angle": 0.2})
    scale, angle = read_vflow(path, check=False)
    assert math.isnan(scale)
    assert angle == 0.2


def test_invalid_json_names_file(tmp_path: Path) -> None:
    path = tmp_path / "j_VFLOW.json"
    path.write_text("{scale: 1")
    with pytest.raises(DataError, match=r"j_VFLOW\.json: not valid JSON"):
        read_vflow(path)
