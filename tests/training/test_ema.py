"""The weight EMA."""

from __future__ import annotations

import pytest
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


def test_ema_update_is_one_fused_call_per_dtype_group(monkeypatch: pytest.MonkeyPatch) -> None:
    # One lerp_ per tensor was over a thousand kernel launches per step for an
    # EfficientNet-B7; the fused call gives the same numbers.
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, 1)
    )
    ema = ModelEma(model, decay=0.9)
    expected = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    model[1].num_batches_tracked += 2
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            expected[name] = expected[name].lerp(value, 0.1)
        else:
            expected[name] = value.clone()
    calls: list[int] = []
    fused = torch._foreach_lerp_

    def counting(tensors: list[torch.Tensor], *args: object) -> None:
        calls.append(len(tensors))
        fused(tensors, *args)

    monkeypatch.setattr(torch, "_foreach_lerp_", counting)
    monkeypatch.setattr(torch.Tensor, "lerp_", lambda *a: pytest.fail("per-tensor lerp_"))
    ema.update(model)
    assert calls == [8]  # 2 convs × (weight, bias) + BN weight, bias, mean, var
    for name, value in ema.module.state_dict().items():
        assert torch.allclose(value, expected[name], rtol=0, atol=1e-6), name
