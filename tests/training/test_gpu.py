"""CUDA code paths of the training loop (skipped without a GPU)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from geopose.config import Config
from geopose.training.trainer import Trainer, TrainHooks, train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("precision", ["auto", "fp16", "fp32"])
def test_cuda_run_with_each_precision(
    tiny_config: Callable[..., Config], tmp_path: Path, precision: str
) -> None:
    config = tiny_config(
        "train.max_steps=4", f"train.precision={precision}", "train.channels_last=true",
        "train.ema=0.99",
    )  # fmt: skip
    trainer = Trainer(config, tmp_path / "run", TrainHooks(), progress=False)
    assert trainer.device.type == "cuda"
    if precision == "auto":
        expected = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        assert trainer.precision == expected
    assert trainer.scaler.is_enabled() == (precision == "fp16")
    result = trainer.run(resume=False)
    trainer.close()
    assert result.step == 4
    assert result.score is not None
    assert math.isfinite(result.score)
    for p in trainer.raw_model.parameters():
        assert torch.isfinite(p).all()
    assert trainer.history[-1]["peak_mem_mb"] > 0


def test_cuda_resume_is_exact(tiny_config: Callable[..., Config], tmp_path: Path) -> None:
    common = ("train.max_steps=4", "train.precision=fp32")
    train(tiny_config(*common), tmp_path / "a", progress=False)
    train(tiny_config(*common, "train.stop_after_steps=2"), tmp_path / "b", progress=False)
    from geopose.checkpoint import load_checkpoint
    from geopose.training.trainer import resume_config

    train(resume_config(tmp_path / "b", ["train.stop_after_steps=null"]), tmp_path / "b",
          resume=True, progress=False)  # fmt: skip
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")[0]
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")[0]
    for key in a:
        assert torch.equal(a[key], b[key]), key
