"""Model size figures counted without allocating weights (on the meta device)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from geopose.models.config import ModelSpec


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not); works on meta-device models."""
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: nn.Module, size: int = 1024, batch: int = 1) -> float:
    """GFLOPs (1e9 floating-point operations, a multiply-add counts 2) of one forward pass.

    Counted by ``torch.utils.flop_counter`` on meta tensors of ``batch``×3×``size``×``size``
    (px) — no real computation, so it answers in seconds for any preset. Counts the
    matrix products and convolutions; element-wise work is left out.
    """
    device = next(model.parameters()).device
    image = torch.zeros(batch, 3, size, size, device=device)
    gsd = torch.full((batch,), 0.3, device=device)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(image, gsd)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9


def describe(spec: ModelSpec, size: int = 1024) -> dict[str, Any]:
    """A row of the preset table: name, encoder, decoder, params (M), GFLOPs at ``size``²."""
    from geopose.models.factory import create_model

    with torch.device("meta"):
        model = create_model(spec)
    dec = spec.decoder
    parts = [dec.kind, getattr(dec, "block", ""), getattr(dec, "upsample", "")]
    decoder = "/".join(p for p in parts if p)
    return {
        "name": spec.name,
        "encoder": spec.encoder.name,
        "decoder": decoder,
        "params_m": count_parameters(model) / 1e6,
        "params": count_parameters(model),
        f"gflops_{size}": count_gflops(model, size),
        "description": spec.description,
    }
