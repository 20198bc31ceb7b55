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
        native = torch.cuda.get_device_capability(trainer.device) >= (8, 0)
        assert trainer.precision == ("bf16" if native else "fp32")
    assert trainer.scaler.is_enabled() == (precision == "fp16")
    result = trainer.run(resume=False)
    trainer.close()
    assert result.step == 4
    assert result.score is not None
    assert math.isfinite(result.score)
    for p in trainer.raw_model.parameters():
        assert torch.isfinite(p).all()
    assert trainer.history[-1]["peak_mem_mb"] > 0


#: How close a resumed CUDA run must come to the uninterrupted one: the largest weight
#: difference relative to how far the weights moved in the run. Bilinear upsampling has
#: no deterministic CUDA backward (training.determinism), so the two runs differ in
#: rounding, not bit for bit; anything that breaks the resume (a wrong RNG, optimizer or
#: data-order state) moves the weights as far as training itself does, ratio ~1.
CUDA_RESUME_RTOL = 1e-2


def test_cuda_resume_matches_within_rounding(
    tiny_config: Callable[..., Config], tmp_path: Path
) -> None:
    common = ("train.max_steps=4", "train.precision=fp32")
    train(tiny_config(*common), tmp_path / "a", progress=False)
    train(tiny_config(*common, "train.stop_after_steps=2"), tmp_path / "b", progress=False)
    from geopose.checkpoint import load_checkpoint
    from geopose.training.trainer import resume_config

    train(resume_config(tmp_path / "b", ["train.stop_after_steps=null"]), tmp_path / "b",
          resume=True, progress=False)  # fmt: skip
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")[0]
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")[0]
    start = Trainer(tiny_config(*common), tmp_path / "c", TrainHooks(), False).raw_model
    initial = {k: v.detach().cpu() for k, v in start.state_dict().items()}
    floats = [k for k in a if a[k].is_floating_point()]
    moved = max(float((a[k] - initial[k]).abs().max()) for k in floats)
    apart = max(float((a[k] - b[k]).abs().max()) for k in floats)
    print(f"CUDA resume: weights moved {moved:.3g}, resumed run apart {apart:.3g}")
    assert moved > 0
    assert apart <= CUDA_RESUME_RTOL * moved
