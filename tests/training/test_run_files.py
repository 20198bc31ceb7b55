"""Run-directory writers: top-k best checkpoints, metrics.jsonl, the last checkpoint pair."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from geopose.checkpoint import load_checkpoint, read_checkpoint_header
from geopose.training.run_files import RunFiles

#: The model spec dict the trainer passes (the writer stores it as is).
SPEC = {"version": 1, "name": "net", "encoder": {"name": "test_efficientnet"}}


def _weights(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((2, 2), value)}


def test_top_k_keeps_the_best_scores_only(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    files.prepare({"model": {"preset": "tiny"}})
    best: list = []
    scores = [0.1, 0.5, 0.3, 0.2, 0.6, math.nan]
    for step, score in enumerate(scores, start=1):
        extra = {"step": step, "epoch": step, "score": score}
        best = files.save_best(best, 2, score, _weights(score), {"k": 1}, extra, model=SPEC)
    names = sorted(p.name for p in files.checkpoints.glob("best-*.safetensors"))
    assert names == ["best-0000002-0.5000.safetensors", "best-0000005-0.6000.safetensors"]
    assert [r[0] for r in best] == [0.6, 0.5]
    weights, config, extra = load_checkpoint(files.checkpoints / names[1])
    assert torch.equal(weights["w"], _weights(0.6)["w"])
    assert config == {"k": 1}
    assert extra["step"] == 5
    assert read_checkpoint_header(files.checkpoints / names[1]).model == SPEC


def test_metrics_lines_are_json_with_null_for_nan(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    files.prepare({})
    files.log({"epoch": 0, "val": {"score": math.nan}, "loss": {"total": 1.5}})
    files.log({"epoch": 1, "val": None, "loss": {"total": math.inf}})
    rows = [json.loads(x) for x in files.metrics.read_text().splitlines()]
    assert rows == [
        {"epoch": 0, "val": {"score": None}, "loss": {"total": 1.5}},
        {"epoch": 1, "val": None, "loss": {"total": None}},
    ]


def test_last_pair_round_trips(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    files.prepare({"a": 1})
    state = {
        "step": 3,
        "optimizer": {"state": {0: {"m": torch.arange(3.0)}}},
        "best": [[0.5, 2, "x"]],
    }
    files.save_last(_weights(1.0), {"a": 1}, {"step": 3}, state, model=SPEC)
    loaded = files.load_last()
    assert loaded["step"] == 3
    assert torch.equal(loaded["optimizer"]["state"][0]["m"], torch.arange(3.0))
    assert loaded["best"] == [[0.5, 2, "x"]]
    assert load_checkpoint(files.last)[2] == {"step": 3}
    assert read_checkpoint_header(files.last).model == SPEC
