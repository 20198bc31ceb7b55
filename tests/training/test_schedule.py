"""Learning-rate schedules: shapes, warm-up, plateau, and extension on resume."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from geopose.config import OptimConfig
from geopose.training.optim import build_optimizer, scaled_lr
from geopose.training.schedule import LRSchedule


def test_cosine_with_warmup_shape() -> None:
    s = LRSchedule("cosine", base_lr=1.0, total_steps=100, warmup_steps=10, min_lr_ratio=0.0)
    assert s.lr(0) == pytest.approx(0.1 * s.factor(10))
    assert s.lr(9) == pytest.approx(s._shape(10))
    assert s.lr(50) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert s.lr(100) == pytest.approx(0.0, abs=1e-12)
    rates = [s.lr(t) for t in range(10, 101)]
    assert all(a >= b for a, b in itertools.pairwise(rates))


def test_onecycle_rises_then_falls() -> None:
    s = LRSchedule("onecycle", base_lr=2.0, total_steps=100, min_lr_ratio=0.01)
    assert s.lr(0) == pytest.approx(2.0 / 25)
    assert s.lr(30) == pytest.approx(2.0)
    assert s.lr(100) == pytest.approx(0.02)


def test_plateau_decays_after_patience() -> None:
    s = LRSchedule("plateau", base_lr=1.0, total_steps=100, plateau_patience=1)
    for score in (0.5, 0.6, 0.6, 0.6):
        s.report(score)
    assert s.lr(50) == pytest.approx(0.5)
    restored = LRSchedule.from_state(s.state_dict())
    assert restored.lr(50) == s.lr(50)


def test_extend_continues_from_the_current_rate() -> None:
    s = LRSchedule("cosine", base_lr=1.0, total_steps=100, min_lr_ratio=0.0)
    at_60 = s.lr(60)
    s.extend(60, 200)
    assert s.lr(60) == pytest.approx(at_60)
    assert s.lr(200) == pytest.approx(0.0, abs=1e-12)
    assert s.lr(61) < at_60
    with pytest.raises(ValueError, match="must exceed"):
        s.extend(200, 150)


def test_lr_scaling_rule_and_no_decay_groups() -> None:
    cfg = OptimConfig(lr=1e-3, lr_scaling="sqrt")
    assert scaled_lr(cfg, 4) == pytest.approx(2e-3)
    assert scaled_lr(OptimConfig(lr=1e-3, lr_scaling="linear"), 4) == pytest.approx(4e-3)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    opt = build_optimizer(model, cfg, world_size=4)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == cfg.weight_decay
    assert no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) == 1  # the conv weight only
    assert len(no_decay["params"]) == 3  # conv bias, BN weight and bias
    assert decay["lr"] == pytest.approx(2e-3)
