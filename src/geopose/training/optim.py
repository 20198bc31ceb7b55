"""Optimizers by name, with the learning-rate rule for the world size explicit."""

from __future__ import annotations

import math

import torch

from geopose.config import OptimConfig
from geopose.errors import UsageError


def scaled_lr(config: OptimConfig, world_size: int) -> float:
    """Learning rate for ``world_size`` processes (``optim.lr_scaling``: none|linear|sqrt).

    ``optim.lr`` is the rate for one process at ``train.batch_size``; with N processes
    the global batch is N times larger.
    """
    if config.lr_scaling == "linear":
        return config.lr * world_size
    if config.lr_scaling == "sqrt":
        return config.lr * math.sqrt(world_size)
    return config.lr


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Two groups: weights with decay; biases and normalisation parameters without."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # 1-D tensors are biases and norm scales: decaying them hurts and helps nothing.
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(
    model: torch.nn.Module, config: OptimConfig, world_size: int = 1
) -> torch.optim.Optimizer:
    """The optimizer named by ``config.name`` at the world-size-scaled learning rate."""
    lr = scaled_lr(config, world_size)
    groups = parameter_groups(model, config.weight_decay)
    if config.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if config.name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if config.name == "radam":
        return torch.optim.RAdam(groups, lr=lr, decoupled_weight_decay=True)
    if config.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    raise UsageError(f"optim.name {config.name!r}: choose adamw, adam, radam or sgd")
