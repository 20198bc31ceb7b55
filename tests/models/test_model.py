"""Every preset honours the model contract (DESIGN.md §4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from geopose import conventions
from geopose.models import OUTPUT_KEYS, GeoposeModel, create_model, list_presets

EXPECTED = {"agl": (1, 1, 512, 512), "mag": (1, 1, 512, 512), "scale": (1,), "direction": (1, 2)}


@pytest.mark.parametrize(
    "preset", ["tiny", "b0-unet", "b7-unet", "b6-rdtsc-unet", "v2l-unet", "r34-unet"]
)
def test_preset_maps_512_to_contract_shapes_on_meta(preset: str) -> None:
    assert preset in list_presets()
    with torch.device("meta"):
        model = create_model(preset).eval()
        out = model(torch.zeros(1, 3, 512, 512), torch.full((1,), 0.3))
    assert set(out) == set(OUTPUT_KEYS)
    for key, shape in EXPECTED.items():
        assert tuple(out[key].shape) == shape, key
    assert tuple(out["angle"].shape) == (1,)


@pytest.mark.parametrize("preset", ["tiny", "b0-unet"])
def test_real_forward_at_512(preset: str) -> None:
    torch.manual_seed(0)
    model = create_model(preset).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 512, 512), torch.tensor([0.31]))
    for key, shape in EXPECTED.items():
        assert tuple(out[key].shape) == shape, key
    assert (out["agl"] >= 0).all()
    assert (out["mag"] >= 0).all()
    torch.testing.assert_close(out["direction"].norm(dim=1), torch.ones(1))
    dx, dy = out["direction"][0].tolist()
    assert out["angle"].item() == pytest.approx(conventions.direction_to_angle(dx, dy), abs=1e-5)
    assert all(torch.isfinite(v).all() for v in out.values())


@pytest.mark.slow
def test_real_forward_r34_at_512() -> None:
    torch.manual_seed(0)
    model = create_model("r34-unet").eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 512, 512), torch.tensor([0.31]))
    assert tuple(out["agl"].shape) == (1, 1, 512, 512)
    torch.testing.assert_close(out["direction"].norm(dim=1), torch.ones(1))


def test_tiny_forward_backward_reaches_every_parameter(tiny: GeoposeModel) -> None:
    tiny.train()
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, 256, 256, generator=gen)
    out = tiny(image, torch.tensor([0.3, 0.5]))
    loss = out["agl"].mean() + out["mag"].mean() + out["scale"].sum() + out["direction"].sum()
    loss.backward()
    grads = {n: p.grad for n, p in tiny.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())


def test_model_normalises_its_input_itself(tiny: GeoposeModel) -> None:
    image = torch.rand(1, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    feats = tiny.encoder(image)
    direct = tiny.encoder.net((image - mean) / std)
    for a, b in zip(feats, direct, strict=True):
        torch.testing.assert_close(a, b)
    assert "encoder.mean" not in tiny.state_dict()  # not a weight: rebuilt from the config


def test_gsd_reaches_height_but_not_magnitude(tiny: GeoposeModel) -> None:
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a = tiny(image, torch.tensor([0.3]))
        b = tiny(image, torch.tensor([0.6]))
    assert not torch.equal(a["agl"], b["agl"])
    assert torch.equal(a["mag"], b["mag"])


def test_odd_input_size_gives_full_size_outputs(tiny: GeoposeModel) -> None:
    with torch.no_grad():
        out = tiny(torch.rand(1, 3, 72, 88), torch.tensor([[0.3]]))
    assert tuple(out["agl"].shape) == (1, 1, 72, 88)
    assert tuple(out["mag"].shape) == (1, 1, 72, 88)


def test_bad_inputs_raise_clear_errors(tiny: GeoposeModel) -> None:
    with pytest.raises(ValueError, match="B×3×H×W"):
        tiny(torch.rand(1, 4, 32, 32), torch.ones(1))
    with pytest.raises(ValueError, match="one value per image"):
        tiny(torch.rand(2, 3, 32, 32), torch.ones(3))


def test_config_round_trips_through_json(tiny: GeoposeModel) -> None:
    text = json.dumps(tiny.config.to_dict())
    torch.manual_seed(0)
    rebuilt = create_model(json.loads(text))
    assert rebuilt.config == tiny.config
    ours = [(k, tuple(v.shape)) for k, v in tiny.state_dict().items()]
    assert ours == [(k, tuple(v.shape)) for k, v in rebuilt.state_dict().items()]


def test_bf16_autocast_forward_is_finite(tiny: GeoposeModel) -> None:
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny(torch.rand(1, 3, 64, 64), torch.tensor([0.3]))
    assert out["scale"].dtype == torch.float32
    assert all(torch.isfinite(v.float()).all() for v in out.values())
    assert np.isclose(out["direction"].float().norm().item(), 1.0, atol=1e-3)
