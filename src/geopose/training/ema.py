"""Exponential moving average of model weights (optional in training)."""

from __future__ import annotations

import copy

import torch


class ModelEma:
    """Keeps ``ema = decay · ema + (1 − decay) · weights`` after every optimizer step.

    Floating-point entries of the state dict (parameters and BN statistics) are
    averaged, all in one ``torch._foreach_lerp_`` call (one fused kernel launch per
    group of tensors instead of one per tensor: over a thousand for an EfficientNet-B7);
    integer buffers (``num_batches_tracked``) are copied, also in one call.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(_unwrap(model)).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        own = self.module.state_dict()
        self._float_names = [k for k, v in own.items() if v.is_floating_point()]
        self._other_names = [k for k, v in own.items() if not v.is_floating_point()]
        self._floats = [own[k] for k in self._float_names]
        self._others = [own[k] for k in self._other_names]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        source = _unwrap(model).state_dict()
        if self._floats:
            values = [source[k].detach() for k in self._float_names]
            torch._foreach_lerp_(self._floats, values, 1.0 - self.decay)
        if self._others:
            torch._foreach_copy_(self._others, [source[k] for k in self._other_names])


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside DDP / torch.compile wrappers."""
    inner = getattr(model, "module", model)
    return getattr(inner, "_orig_mod", inner)
