"""Sharding over torchrun ranks, and the ONNX export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import geopose
from geopose.cli import main
from geopose.errors import UsageError
from geopose.export import compare_onnx, export_model
from geopose.inference.layout import predict_layout
from geopose.inference.load_model import load_model
from geopose.inference.options import PredictOptions
from geopose.io import open_layout
from geopose.runtime import Runtime


def test_runtime_takes_every_world_size_th_item_from_its_rank() -> None:
    assert Runtime(1, 3).take(list(range(8))) == [1, 4, 7]
    assert Runtime().take([3, 1]) == [3, 1]


def test_each_image_is_written_by_exactly_one_rank(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    opts = PredictOptions(tta="none", precision="fp32", device="cpu")
    written = []
    for rank in range(3):
        summary = predict_layout(
            [tiny_checkpoint],
            synth_layout,
            out,
            options=opts,
            progress=False,
            runtime=Runtime(rank, 3, 0),
        )
        written.append(summary.written)
    ids = sorted(e.id for e in open_layout(synth_layout).entries("test"))
    flat = [i for part in written for i in part]
    assert sorted(flat) == ids
    assert len(flat) == len(set(flat))
    assert (out / "manifest.rank2.json").is_file()
    again = predict_layout([tiny_checkpoint], synth_layout, out, options=opts, progress=False)
    assert again.written == []
    assert sorted(again.already_complete) == ids


@pytest.mark.slow
def test_onnx_export_matches_pytorch(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(tiny_checkpoint).train()
    params = list(model.parameters())

    def moved(*args: object, **kwargs: object) -> None:
        raise AssertionError("export_model moved the caller's model (a GPU model to the CPU)")

    monkeypatch.setattr(model, "to", moved)
    path = export_model(model, tmp_path / "tiny.onnx", height=64, width=96)
    # The export ran on a copy: the caller's model keeps its mode and its tensors.
    assert model.training
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))
    rng = np.random.default_rng(1)
    image = rng.random((3, 3, 64, 96), dtype=np.float32)
    gsd = np.array([0.3, 0.45, 0.5], dtype=np.float32)
    diffs = compare_onnx(load_model(tiny_checkpoint), path, image, gsd)
    assert set(diffs) == {"agl", "mag", "scale", "direction", "angle"}
    assert max(d["abs"] for d in diffs.values()) < 1e-4
    with torch.inference_mode():
        agl = load_model(tiny_checkpoint)(torch.from_numpy(image), torch.from_numpy(gsd))["agl"]
    assert float(agl.std()) > 0  # a trained, input-dependent model, not a constant


@pytest.mark.slow
def test_one_onnx_file_takes_every_tile_size(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Exported once (traced at 64 px), the file predicts 256², 512² and 96×160 tiles
    as PyTorch does."""
    model = load_model(tiny_checkpoint)
    path = export_model(model, tmp_path / "any.onnx", height=64, max_size=512)
    rng = np.random.default_rng(4)
    for h, w in ((256, 256), (512, 512), (96, 160)):
        image = rng.random((1, 3, h, w), dtype=np.float32)
        diffs = compare_onnx(model, path, image, np.array([0.4], dtype=np.float32))
        assert max(d["scaled"] for d in diffs.values()) < 1e-4, (h, w, diffs)


@pytest.mark.slow
def test_onnx_export_carries_the_input_convention(half_checkpoint: Path, tmp_path: Path) -> None:
    model = load_model(half_checkpoint)
    assert model.spec.input.channel_order == "BGR"
    assert model.input_multiple == 64
    with pytest.raises(UsageError, match="multiples of 64"):
        export_model(model, tmp_path / "bad.onnx", height=32, width=64)
    path = export_model(model, tmp_path / "half.onnx", height=64, width=128)
    image = np.random.default_rng(2).random((2, 3, 64, 128), dtype=np.float32)
    diffs = compare_onnx(model, path, image, np.array([0.3, 0.5], dtype=np.float32))
    assert max(d["abs"] for d in diffs.values()) < 1e-4


@pytest.mark.slow
def test_export_onnx_command(tiny_checkpoint: Path, tmp_path: Path) -> None:
    report = tmp_path / "onnx.json"
    code = main(
        [
            "export-onnx",
            str(tiny_checkpoint),
            str(tmp_path / "m.onnx"),
            "--size",
            "64",
            "--json",
            str(report),
        ]
    )
    assert code == 0
    diffs = json.loads(report.read_text())["differences"]
    assert max(d["scaled"] for d in diffs.values()) < 1e-4


@pytest.mark.slow
def test_torchrun_two_processes_write_each_image_once(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    src = str(Path(geopose.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "geopose",
        "predict",
        "--checkpoint",
        str(tiny_checkpoint),
        "--data",
        str(synth_layout),
        "--out",
        str(out),
        "--tta",
        "none",
        "--device",
        "cpu",
        "--quiet",  # the old spelling of --no-progress still works
        "--tar",
    ]
    # Own process group, so that a hang can be ended with every worker it started.
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-2000:]
    parts = [json.loads(p.read_text())["complete"] for p in sorted(out.glob("manifest*.json"))]
    ids = sorted(e.id for e in open_layout(synth_layout).entries("test"))
    flat = [i for part in parts for i in part]
    assert len(parts) == 2
    assert sorted(flat) == ids
    assert (out / "submission.tar.gz").is_file()


def test_cli_choices_equal_the_engine_constants() -> None:
    from geopose.commands.common import PRECISION_CHOICES
    from geopose.commands.predict import TTA_CHOICES
    from geopose.inference.tta import TTA_MODES
    from geopose.precision import PRECISIONS

    assert tuple(TTA_MODES) == TTA_CHOICES
    assert PRECISION_CHOICES == PRECISIONS
