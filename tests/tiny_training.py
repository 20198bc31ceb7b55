"""A briefly trained ``tiny`` model for the prediction and API tests.

The tiny model trains for a few dozen optimizer steps on 64 px synthetic tiles, so its
outputs depend on the image content (an untrained model would be nearly constant and
tests comparing prediction paths could not fail).
"""

from __future__ import annotations

from typing import Any

import torch

from batches import to_batch
from geopose.data.synth import generate_sample, load_presets
from geopose.losses import build_loss
from geopose.models import GeoposeModel, create_model

TILE = 64
STEPS = 40
BATCH = 4


def train_tiny(config: Any, steps: int = STEPS, seed: int = 0) -> GeoposeModel:
    """A tiny model trained for ``steps`` AdamW steps on 4-tile batches of synthetic data."""
    torch.manual_seed(seed)
    model = create_model(config)
    loss = build_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    presets = load_presets()
    cities = ("JAX", "OMA", "ATL", "ARG")
    pool = [
        generate_sample(cities[i % 4], seed * 1000 + i, size=TILE, presets=presets)
        for i in range(4 * BATCH)
    ]
    model.train()
    for step in range(steps):
        first = (step * BATCH) % len(pool)
        image, gsd, batch = to_batch(pool[first : first + BATCH])
        total, _ = loss(model(image, gsd), batch)
        opt.zero_grad()
        total.backward()
        opt.step()
    return model.eval()
