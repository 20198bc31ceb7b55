"""``geopose check`` through the command line: exit codes, stdout, --json, python -m."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geopose.cli import main
from geopose.io.layout import ImageMeta, write_index
from geopose.io.raster import write_agl, write_rgb
from geopose.io.vflow import write_vflow

TRAIN = ["JAX_001", "JAX_002", "OMA_001"]
TEST = ["OMA_101"]


def build(root: Path) -> Path:
    """A clean 24×40 px layout: 3 train images with labels, 1 test image."""
    rng = np.random.default_rng(0)
    meta = {}
    for n, image_id in enumerate(TRAIN + TEST):
        meta[image_id] = ImageMeta(image_id, image_id[:3], 0.3 + 0.01 * n)
        split = "train" if image_id in TRAIN else "test"
        write_rgb(root / split / f"{image_id}_RGB.j2k", rng.integers(0, 256, (24, 40, 3), np.uint8))
        if split == "train":
            write_agl(root / split / f"{image_id}_AGL.tif", rng.uniform(0, 30, (24, 40)))
            write_vflow(root / split / f"{image_id}_VFLOW.json", 1.5, 0.25)
    write_index(root, TRAIN, TEST, meta)
    return root


def break_four(root: Path) -> set[str]:
    """One corrupt j2k, one AGL of the wrong size, one NaN scale, one id missing from metadata."""
    (root / "train" / "JAX_001_RGB.j2k").write_bytes(b"\xff\x4f\xff\x51broken")
    write_agl(root / "train" / "JAX_002_AGL.tif", np.zeros((10, 40), np.float32))
    (root / "train" / "OMA_001_VFLOW.json").write_text(
        json.dumps({"scale": math.nan, "angle": 0.1})
    )
    meta = root / "metadata.csv"
    meta.write_text(
        "".join(row for row in meta.read_text().splitlines(True) if "OMA_101" not in row)
    )
    return {
        str(root / "train" / "JAX_001_RGB.j2k"),
        str(root / "train" / "JAX_002_AGL.tif"),
        str(root / "train" / "OMA_001_VFLOW.json"),
        str(meta),
    }


def test_clean_layout_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build(tmp_path / "data")
    assert main(["check", str(root), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "train: 3 images (JAX 2, OMA 1)" in out
    assert "no problems found" in out


def test_four_problems_exit_1_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build(tmp_path / "data")
    expected = break_four(root)
    report = tmp_path / "out" / "check.json"
    code = main(["check", str(root), "--workers", "2", "--json", str(report), "--full"])
    assert code == 1
    captured = capsys.readouterr()
    problem_lines = [ln.strip() for ln in captured.out.splitlines() if ln.startswith("  /")]
    assert {ln.split(": ", 1)[0] for ln in problem_lines} == expected
    assert len(problem_lines) == 4
    data = json.loads(report.read_text())
    assert {p["path"] for p in data["problems"]} == expected
    assert data["summary"]["mode"] == "full"


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main(["check", str(tmp_path), "--workers", "0"]) == 2
    assert main(["check"]) == 2


def test_python_m_geopose_exit_code(tmp_path: Path) -> None:
    root = build(tmp_path / "data")
    break_four(root)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "geopose", "check", str(root), "--workers", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "4 problem(s)" in proc.stdout
    assert "check" in proc.stderr  # the tqdm bar goes to stderr
