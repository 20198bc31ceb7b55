"""A learner that cannot fit one batch has a bug: each CPU demo preset must drive one
fixed batch's losses close to zero, and its scale and direction to the truth.

This is the cheapest end-to-end check of the model, its heads and the loss terms
together (a detached branch, a wrong sign or a head whose output ignores its input
shows as a loss that will not fall).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from batches import to_batch
from geopose.data.synth import generate_sample, load_presets
from geopose.losses import build_loss
from geopose.models import create_model

TERMS: dict[str, Any] = {
    "agl_huber": {"weight": 1.0, "delta": 10.0},
    "mag_huber": {"weight": 1.0, "delta": 5.0},
    "direction_cos_mse": {"weight": 3.0},
    "scale_mse": {"weight": 1.0},
    "lean_bce": {"weight": 1.0},
}


def _tile_with_height(city: str, presets: Any) -> dict[str, Any]:
    """The first 64 px tile of ``city`` (seeds 0, 1, …) whose mean AGL is over 2 m: a
    flat tile shows no flow, so its direction and scale cannot be learned from it."""
    for seed in range(100):
        sample = generate_sample(city, seed, size=64, presets=presets)
        if np.nanmean(sample["agl"]) > 2.0:
            return sample
    raise AssertionError(f"no {city} tile with height in 100 seeds")


def _batch() -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    presets = load_presets()
    samples = [_tile_with_height(c, presets) for c in ("ATL", "JAX")]
    return to_batch(samples)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny-lean", "tiny-lean-gs", "tiny-lean-mag"])
def test_one_batch_is_fitted(preset: str) -> None:
    torch.manual_seed(0)
    image, gsd, batch = _batch()
    model = create_model(preset).train()
    loss = build_loss(TERMS)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    first: dict[str, float] = {}
    for _ in range(250):
        total, parts = loss(model(image, gsd), batch)
        first = first or {k: float(v) for k, v in parts.items()}
        opt.zero_grad()
        total.backward()
        opt.step()
    # Judged in training mode (batch statistics): the question is whether the learner
    # can fit, not how BatchNorm's running averages of one batch generalise.
    with torch.no_grad():
        out = model(image, gsd)
        _, parts = loss(out, batch)
    # Heights: the AGL loss falls to a small fraction of where it began.
    assert float(parts["agl_huber"]) < 0.1 * first["agl_huber"], (first, parts)
    assert float(parts["mag_huber"]) < 0.2 * first["mag_huber"], (first, parts)
    rel = (out["scale"] - batch["scale"]).abs() / batch["scale"]
    assert float(rel.max()) < 0.05, (out["scale"], batch["scale"])
    err = torch.remainder(out["angle"] - batch["angle"] + math.pi, 2 * math.pi) - math.pi
    assert float(err.abs().max()) < math.radians(15), (out["angle"], batch["angle"])
