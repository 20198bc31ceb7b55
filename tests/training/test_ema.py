"""The weight EMA."""

from __future__ import annotations

import torch

from geopose.training.ema import ModelEma


def test_ema_follows_weights() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEma(model, decay=0.5)
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model[1].num_batches_tracked += 3
    ema.update(model)
    assert torch.allclose(ema.module[0].weight, before + 0.5)
    assert int(ema.module[1].num_batches_tracked) == 3
    assert not ema.module[0].weight.requires_grad
