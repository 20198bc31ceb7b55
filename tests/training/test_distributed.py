"""DDP on CPU (gloo) through torchrun: it trains, and its validation — split across the
two ranks — scores exactly what one process scores with the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

import geopose
from geopose.checkpoint import load_checkpoint
from geopose.config import Config
from geopose.data.collate import collate_samples
from geopose.data.dataset import ValDataset
from geopose.data.folds import split_ids
from geopose.io import open_layout
from geopose.models import create_model
from geopose.runtime import DistInfo
from geopose.training.validate import evaluate


def _single_process_score(config: Config, weights: dict[str, torch.Tensor]) -> dict:
    layout = open_layout(config.data.root)
    metas = [layout.metadata[e.id] for e in layout.entries("train")]
    _, val_ids = split_ids(metas, config.data.folds, config.data.fold, config.data.split)
    assert len(val_ids) % 2 == 1  # an odd count: the ranks get unequal shares
    tiles = ValDataset([layout.entry(i) for i in val_ids], Path(config.data.root) / ".cache-1p")
    model = create_model(config.model.preset)
    model.load_state_dict(weights, strict=True)
    loader = DataLoader(tiles, batch_size=1, collate_fn=collate_samples)
    return evaluate(model, loader, precision="fp32", device=torch.device("cpu"), info=DistInfo())


@pytest.mark.slow
def test_torchrun_two_cpu_processes_validate_like_one(
    tiny_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = tiny_config()
    run = tmp_path / "run"
    src = str(Path(geopose.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "geopose", "train", "--data", str(config.data.root), "--out", str(run),
        "--config", "tiny", "--no-progress", "data.folds=4", "train.batch_size=3",
        "train.crop_size=32", "train.workers=0", "train.max_steps=2",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("finished: step 2") == 1  # only rank 0 reports

    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    # 9 training tiles, 3 per rank and step, 2 ranks: one step per epoch.
    assert [r["step"] for r in records] == [1, 2]
    val = records[-1]["val"]
    assert sum(c["images"] for c in val["cities"].values()) == 3  # none twice, none missing
    weights, _, extra = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert extra["step"] == 2
    single = _single_process_score(config, weights)
    assert abs(single["score"] - val["score"]) <= 1e-6
    for city, result in single["cities"].items():
        assert abs(result["agl_r2"] - val["cities"][city]["agl_r2"]) <= 1e-6
        assert abs(result["vflow_r2"] - val["cities"][city]["vflow_r2"]) <= 1e-6
