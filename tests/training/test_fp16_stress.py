"""fp16 stress (on CPU, where geopose allows fp16 for exactly this): tall targets,
heights fed in centimetres by mistake, injected inf losses — never NaN weights, every
bad step skipped and counted."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from geopose.config import Config
from geopose.data.collate import collate_samples
from geopose.training.nonfinite import weights_finite
from geopose.training.trainer import Trainer, TrainHooks, train

MakeConfig = Callable[..., Config]


def _tiles(trainer: Trainer, factor: float, top: float | None = None) -> list[dict]:
    """32 px windows (around the tallest point) of two validation tiles, AGL multiplied by
    ``factor`` (after stretching it to ``top`` m when given)."""
    samples = [trainer.val_set[i] for i in range(2)]
    for s in samples:
        agl = s["agl"]
        row, col = np.unravel_index(np.nanargmax(agl), agl.shape)
        r0 = int(min(max(row - 16, 0), agl.shape[0] - 32))
        c0 = int(min(max(col - 16, 0), agl.shape[1] - 32))
        s["image"] = s["image"][r0 : r0 + 32, c0 : c0 + 32]
        agl = agl[r0 : r0 + 32, c0 : c0 + 32]
        if top is not None:
            agl = agl / np.nanmax(agl) * top
        s["agl"] = (agl * factor).astype(np.float32)
    return samples


def _params(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.raw_model.parameters()]


def _until_applied(trainer: Trainer, batch: dict, limit: int = 20) -> list[bool]:
    """Steps until one is applied: the GradScaler starts at 2**16 and halves its scale on
    each overflow (those skipped steps are counted but not fatal)."""
    outcomes: list[bool] = []
    while not any(outcomes) and len(outcomes) < limit:
        outcomes += _steps(trainer, batch, 1)
    return outcomes


def _steps(trainer: Trainer, batch: dict, n: int) -> list[bool]:
    outcomes = []
    for _ in range(n):
        _, _, ok = trainer.optimizer_step([batch])
        outcomes.append(ok)
        assert weights_finite(trainer.raw_model)
    return outcomes


@pytest.fixture
def fp16_trainer(tiny_config: MakeConfig, tmp_path: Path) -> Trainer:
    config = tiny_config("train.precision=fp16", "train.max_nonfinite=50", "optim.lr=1e-3")
    return Trainer(config, tmp_path / "run", TrainHooks(), progress=False)


def test_tall_targets_and_centimetre_heights_keep_weights_finite(fp16_trainer: Trainer) -> None:
    t = fp16_trainer
    assert t.precision == "fp16"
    assert t.scaler.is_enabled()
    tall = collate_samples(_tiles(t, 1.0, top=200.0))
    assert float(tall["agl"].max()) == pytest.approx(200.0, rel=1e-3)
    centimetres = collate_samples(_tiles(t, 100.0, top=200.0))  # 20 000 "metres"
    outcomes = _until_applied(t, tall) + _steps(t, tall, 1) + _steps(t, centimetres, 3)
    # Every step is either applied or skipped-and-counted; none is lost silently.
    assert t.step + t.guard.total == len(outcomes)
    assert t.step == sum(outcomes)
    assert t.step >= 1


def test_injected_inf_loss_is_skipped_and_lowers_the_loss_scale(fp16_trainer: Trainer) -> None:
    t = fp16_trainer
    batch = collate_samples(_tiles(t, 1.0))
    assert _until_applied(t, batch)[-1]
    before, scale = _params(t), t.scaler.get_scale()
    t.hooks.on_loss = lambda loss, step: loss * math.inf  # inf loss and inf/NaN gradients
    assert _steps(t, batch, 2) == [False, False]
    assert t.guard.total >= 2
    assert t.scaler.get_scale() < scale
    for old, new in zip(before, _params(t), strict=True):
        assert torch.equal(old, new)  # a skipped step leaves the weights untouched
    assert t.guard.consecutive == 2  # a non-finite loss is always fatal-counted
    t.hooks.on_loss = None
    assert _until_applied(t, batch)[-1]
    assert t.guard.consecutive == 0


def test_fp16_run_end_to_end(tiny_config: MakeConfig, tmp_path: Path) -> None:
    result = train(tiny_config("train.precision=fp16", "train.max_steps=1"), tmp_path / "r",
                   progress=False)  # fmt: skip
    assert result.score is not None
    assert math.isfinite(result.score)
    assert result.step == 1
