"""The input convention is applied by the model itself: channel order, value range,
mean/std and resolution factor (models/input.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from geopose.models import GeoposeModel, InputConvention, ModelSpec, create_model, get_preset

#: A convention that hands the network its input unchanged (RGB, [0, 1], no normalisation).
PLAIN = InputConvention(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def _with_input(convention: InputConvention, preset: str = "tiny") -> ModelSpec:
    return dataclasses.replace(get_preset(preset), input=convention)


def _pair(convention: InputConvention, preset: str = "tiny") -> tuple[GeoposeModel, GeoposeModel]:
    """A model with ``convention`` and one with the same weights and PLAIN input."""
    torch.manual_seed(0)
    model = create_model(_with_input(convention, preset)).eval()
    plain = create_model(_with_input(PLAIN, preset)).eval()
    plain.load_state_dict(model.state_dict(), strict=True)
    return model, plain


def test_bgr_in_0_255_with_its_own_mean_std_is_what_the_network_sees() -> None:
    # The 2nd place's convention: BGR images, ImageNet's RGB statistics applied in B, G, R
    # order, here in the [0, 255] scale.
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    bgr = InputConvention(channel_order="BGR", mean=mean, std=std, value_range=255.0)
    model, plain = _pair(bgr)
    image = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    gsd = torch.tensor([0.3, 0.4])
    m, s = torch.tensor(mean).reshape(1, 3, 1, 1), torch.tensor(std).reshape(1, 3, 1, 1)
    by_hand = (image[:, [2, 1, 0]] * 255.0 - m) / s
    with torch.no_grad():
        ours = model(image, gsd)
        reference = plain(by_hand, gsd)
        rgb = plain(image, gsd)
    for key in ("agl", "mag", "scale", "direction"):
        torch.testing.assert_close(ours[key], reference[key], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours["agl"], rgb["agl"])  # the convention matters


def test_value_range_255_resolves_the_encoders_statistics_in_that_scale() -> None:
    model = create_model(_with_input(InputConvention(value_range=255.0)))
    assert model.spec.input.mean == pytest.approx((0.485 * 255, 0.456 * 255, 0.406 * 255))
    assert model.spec.input.std == pytest.approx((0.229 * 255, 0.224 * 255, 0.225 * 255))
    default = create_model("tiny")
    image = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(model.input(image), default.input(image), rtol=1e-5, atol=1e-5)


def test_resolution_factor_runs_the_network_at_half_size_and_rescales_outputs() -> None:
    half = dataclasses.replace(PLAIN, resolution_factor=0.5)
    model, plain = _pair(half)
    image = torch.rand(2, 3, 128, 192, generator=torch.Generator().manual_seed(2))
    gsd = torch.tensor([0.3, 0.5])
    small = F.interpolate(image, size=(64, 96), mode="bilinear", align_corners=False)
    with torch.no_grad():
        ours = model(image, gsd)
        low = plain(small, gsd * 2)  # half the pixels: twice the metres per pixel

    def up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(128, 192), mode="bilinear", align_corners=False)

    assert tuple(ours["agl"].shape) == (2, 1, 128, 192)
    torch.testing.assert_close(ours["agl"], up(low["agl"]))
    torch.testing.assert_close(ours["mag"], up(low["mag"]) * 2)  # px of the input image
    torch.testing.assert_close(ours["scale"], low["scale"] * 2)  # px/m of the input image
    torch.testing.assert_close(ours["direction"], low["direction"])
    torch.testing.assert_close(ours["angle"], low["angle"])
    assert model.input_multiple == 64  # deepest stride 32 at half resolution
    assert plain.input_multiple == 32


def test_resolution_factor_keeps_training_outputs_at_input_size() -> None:
    spec = _with_input(InputConvention(resolution_factor=0.5), "tiny-lean")
    model = create_model(spec).train()
    out = model(torch.rand(2, 3, 64, 64), torch.tensor([0.3, 0.5]))
    assert tuple(out["lean_logits"].shape) == (2, 1, 64, 64)
    assert tuple(out["agl"].shape) == (2, 1, 64, 64)


def test_nearest_resampling_is_honoured() -> None:
    spec = dataclasses.replace(
        PLAIN, resolution_factor=0.5, downsample="nearest", upsample="nearest"
    )
    model, plain = _pair(spec)
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ours = model(image, torch.tensor([0.3]))
        low = plain(image[..., ::2, ::2], torch.tensor([0.6]))
    expected = low["agl"].repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    torch.testing.assert_close(ours["agl"], expected)
