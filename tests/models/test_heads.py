"""Heads: dense AGL/MAG stages, orientation MLP, dense attention orientation, lean orientation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from geopose import conventions
from geopose.data.synth import generate_sample
from geopose.errors import UsageError
from geopose.losses import LeanMaskLoss
from geopose.models import create_model, get_preset
from geopose.models.config import (
    DenseHeadConfig,
    DenseOrientationHeadConfig,
    GlobalScaleHeadConfig,
    ModelSpec,
)
from geopose.models.direction import direction_to_angle
from geopose.models.head_api import FeatureSpec, HeadInputs
from geopose.models.head_dense import DenseHead
from geopose.models.head_dense_orientation import attention_pool, gradient_magnitude
from geopose.models.head_global_scale import GlobalScaleHead
from geopose.models.head_lean_orientation import lean_direction


def _spec(channels: int, stride: int) -> FeatureSpec:
    return FeatureSpec((8, 16), (16, 32), channels, stride)


def _inputs(decoded: torch.Tensor, size: tuple[int, int], gsd: float = 0.3) -> HeadInputs:
    return HeadInputs(size, [], decoded, torch.full((decoded.shape[0],), gsd), {})


@pytest.mark.parametrize("shared", [True, False])
def test_dense_head_upsamples_gradually_to_stride_one(shared: bool) -> None:
    torch.manual_seed(0)
    head = DenseHead(DenseHeadConfig(shared_trunk=shared, hidden=(8,)), _spec(64, 4))
    # Two ×2 stages, each with a transposed conv (rdtsc): no single ×4 jump.
    n_deconv = sum(isinstance(m, torch.nn.ConvTranspose2d) for m in head.modules())
    assert n_deconv == (2 if shared else 4)
    out = head(_inputs(torch.randn(2, 64, 8, 8), (32, 32)))
    assert tuple(out["agl"].shape) == (2, 1, 32, 32)
    assert (out["agl"] >= 0).all()
    assert (out["mag"] >= 0).all()


def test_gsd_enters_height_branch_as_constant_channel() -> None:
    head = DenseHead(DenseHeadConfig(hidden=(8,), height_gsd_at=0), _spec(16, 2))
    first = head.height.convs[0]
    assert first.in_channels == head.magnitude.convs[0].in_channels + 1


def test_bad_gsd_position_is_rejected() -> None:
    with pytest.raises(UsageError, match="height_gsd_at"):
        DenseHead(DenseHeadConfig(hidden=(8,), height_gsd_at=5), _spec(16, 2))


def test_direction_to_angle_matches_conventions() -> None:
    angles = np.linspace(0, 2 * math.pi, 13, endpoint=False)
    d = torch.from_numpy(conventions.angle_to_direction(angles)).float()
    got = direction_to_angle(d).numpy()
    ref = np.array([conventions.direction_to_angle(x, y) for x, y in d.numpy()])
    np.testing.assert_allclose(np.cos(got - ref), 1.0, atol=1e-6)
    assert ((got >= 0) & (got < 2 * math.pi)).all()


def test_gradient_magnitude_matches_numpy_central_differences() -> None:
    rng = np.random.default_rng(0)
    agl = rng.random((6, 7)).astype(np.float32) * 10
    gy, gx = np.gradient(agl)  # central inside; one-sided at borders
    ours = gradient_magnitude(torch.from_numpy(agl)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours[1:-1, 1:-1], np.hypot(gx, gy)[1:-1, 1:-1], rtol=1e-5)


def test_attention_pool_listens_to_edges_not_flat_ground() -> None:
    # Flat ground votes "down" (θ = 0); a building edge votes "right" (θ = π/2).
    field = torch.zeros(1, 2, 16, 16)
    field[:, 1] = 1.0
    agl = torch.zeros(1, 1, 16, 16)
    agl[..., 4:12, 4:12] = 10.0
    edges = gradient_magnitude(agl)
    field[:, :, edges[0, 0] > 0] = torch.tensor([1.0, 0.0]).reshape(2, 1)
    pooled = attention_pool(field, 5.0 * edges)
    assert pooled[0, 0] > 0.99
    assert abs(pooled[0, 1]) < 0.01
    # With zero temperature every pixel counts the same: plain mean of the field.
    torch.testing.assert_close(attention_pool(field, 0 * edges), field.mean(dim=(2, 3)))


def test_dense_orientation_model_builds_and_gives_unit_directions() -> None:
    base = get_preset("tiny").to_dict()
    base["name"] = "tiny-dense-orientation"
    base["heads"] = [h for h in base["heads"] if h["kind"] != "orientation"]
    base["heads"].append({"kind": "dense_orientation", "hidden": 8})
    torch.manual_seed(0)
    model = create_model(ModelSpec.from_dict(base))
    out = model(torch.rand(2, 3, 64, 64), torch.tensor([0.3, 0.4]))
    torch.testing.assert_close(out["direction"].norm(dim=1), torch.ones(2))
    out["direction"][:, 0].sum().backward()
    assert model.heads["dense_orientation"].field[0].weight.grad is not None


def test_dense_orientation_before_dense_is_rejected() -> None:
    cfg = get_preset("tiny").to_dict()
    cfg["heads"] = [{"kind": "dense_orientation"}, *cfg["heads"][:2]]
    with pytest.raises(UsageError, match="needs agl"):
        create_model(cfg)


def test_missing_outputs_are_rejected() -> None:
    cfg = get_preset("tiny").to_dict()
    cfg["heads"] = cfg["heads"][:2]
    with pytest.raises(UsageError, match="direction"):
        create_model(cfg)


def test_dense_orientation_config_defaults() -> None:
    assert DenseOrientationHeadConfig().temperature > 0


def test_fpn_decoder_feeds_the_heads_at_the_finest_encoder_stride() -> None:
    cfg = get_preset("tiny").to_dict()
    cfg["name"] = "tiny-fpn"
    cfg["decoder"] = {"kind": "fpn", "channels": 16}
    torch.manual_seed(0)
    model = create_model(cfg)
    assert model.decoder.out_stride == 2
    out = model(torch.rand(1, 3, 64, 64), torch.tensor([0.3]))
    assert tuple(out["agl"].shape) == (1, 1, 64, 64)
    decoded = model.decoder(model.encoder(torch.rand(1, 3, 64, 64)))
    assert tuple(decoded.shape) == (1, 16, 32, 32)


# ----------------------------------------------------------------------------- lean head
@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 2 * math.pi, exclude_max=True))
def test_lean_direction_of_a_leaning_ramp_is_its_downhill_direction(theta: float) -> None:
    """A plane whose height falls along d = (sin θ, cos θ): −∇agl points along d."""
    d = conventions.angle_to_direction(theta)
    rows, cols = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    agl = (50.0 - 0.7 * (cols * d[0] + rows * d[1]))[None, None]
    vec = lean_direction(torch.ones_like(agl), agl)
    got = float(direction_to_angle(vec / vec.norm())[0])
    assert conventions.angle_difference(got, theta) < 1e-4


@pytest.mark.parametrize("city", ["ARG", "ATL", "JAX", "OMA"])
def test_lean_mask_of_the_true_agl_recovers_the_rendered_flow_direction(city: str) -> None:
    """Against the synthetic renderer: pixels labelled by ``lean_bce``'s rule, weighting
    the true AGL's gradient, give the tile's flow angle (DESIGN.md §1 convention)."""
    errors = []
    for seed in range(3):
        s = generate_sample(city, seed, size=192)
        agl = torch.from_numpy(np.nan_to_num(s["agl"]).astype(np.float32))[None, None]
        valid = torch.from_numpy(np.isfinite(s["agl"]))[None, None]
        label, counted = LeanMaskLoss().target(agl, valid, torch.tensor([s["scale"]]))
        vec = lean_direction((label & counted).float(), agl)[0]
        got = math.atan2(float(vec[0]), float(vec[1]))
        errors.append(math.degrees(conventions.angle_difference(got, s["angle"])))
    assert float(np.median(errors)) < 25.0, errors


def test_lean_model_returns_the_mask_in_training_only_and_keeps_heights_detached() -> None:
    torch.manual_seed(0)
    model = create_model("tiny-lean")
    image, gsd = torch.rand(2, 3, 64, 64), torch.tensor([0.3, 0.4])
    out = model(image, gsd)
    assert out["lean_logits"].shape == (2, 1, 64, 64)
    torch.testing.assert_close(out["direction"].norm(dim=1), torch.ones(2))
    # The direction teaches the mask, never the heights.
    out["direction"][:, 0].sum().backward()
    assert model.heads["lean_orientation"].mask[0].weight.grad is not None
    assert model.heads["dense"].parameters().__next__().grad is None
    model.eval()
    with torch.inference_mode():
        assert set(model(image, gsd)) == {"agl", "mag", "scale", "direction", "angle"}


def test_lean_head_is_equivariant_to_rot90_given_equivariant_inputs() -> None:
    """With a rotated AGL and mask, the direction turns with the image (DESIGN.md §1)."""
    g = torch.Generator().manual_seed(3)
    agl = torch.rand(1, 1, 20, 20, generator=g) * 10
    weights = torch.rand(1, 1, 20, 20, generator=g)
    base = lean_direction(weights, agl)[0]
    rot = lean_direction(torch.rot90(weights, 1, (-2, -1)), torch.rot90(agl, 1, (-2, -1)))[0]
    theta = math.atan2(float(base[0]), float(base[1]))
    got = math.atan2(float(rot[0]), float(rot[1]))
    assert conventions.angle_difference(got, conventions.angle_after_rot90(theta, 1)) < 1e-4


def test_a_zero_direction_vector_becomes_the_unit_vector_down_the_image() -> None:
    from geopose.models.direction import unit_direction

    out = unit_direction(torch.tensor([[0.0, 0.0], [3.0, 4.0], [1e-9, 0.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0], [0.6, 0.8], [0.0, 1.0]]))
    assert torch.isfinite(out).all()


def test_lean_first_model_derives_heights_from_the_lean_and_the_scale() -> None:
    """``tiny-lean-mag``: AGL = magnitude / scale per image; each loss trains its own part."""
    torch.manual_seed(0)
    model = create_model("tiny-lean-mag")
    image, gsd = torch.rand(2, 3, 64, 64), torch.tensor([0.3, 0.5])
    out = model(image, gsd)
    assert "agl" not in model.heads["dense"](
        HeadInputs(
            image_size=(64, 64),
            features=model.encoder(model.input(image)),
            decoded=model.decoder(model.encoder(model.input(image))),
            gsd=gsd,
            outputs={},
        )
    )
    expected = out["mag"] / out["scale"][:, None, None, None]
    torch.testing.assert_close(out["agl"], expected)
    # The AGL loss trains the scale, not the lean; the magnitude loss trains the lean.
    out["agl"].sum().backward(retain_graph=True)
    scale_mlp = model.heads["global_scale"].mlp
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in scale_mlp.parameters())
    assert all(p.grad is None for p in model.heads["dense"].parameters())
    out["mag"].sum().backward()
    assert any(p.grad is not None for p in model.heads["dense"].parameters())


def test_head_options_that_name_unknown_maps_are_rejected() -> None:
    cfg = get_preset("tiny-lean-mag").to_dict()
    bad_source = [dict(h) for h in cfg["heads"]]
    bad_source[1]["source"] = "depth"
    with pytest.raises(UsageError, match="source must be agl or mag"):
        create_model({**cfg, "heads": bad_source})
    bad_derive = [dict(h) for h in cfg["heads"]]
    bad_derive[2]["derive"] = "depth"
    with pytest.raises(UsageError, match="derive must be agl or mag"):
        create_model({**cfg, "heads": bad_derive})
    no_branch = [dict(h) for h in cfg["heads"]]
    no_branch[0]["magnitude"] = False
    with pytest.raises(UsageError, match="at least one of height and magnitude"):
        create_model({**cfg, "heads": no_branch})
    # The lean head reading the magnitude needs it from an earlier head.
    reordered = [cfg["heads"][1], cfg["heads"][0], cfg["heads"][2]]
    with pytest.raises(UsageError, match="needs mag"):
        create_model({**cfg, "heads": reordered})


def test_output_scale_multiplies_the_dense_maps_and_must_be_positive() -> None:
    torch.manual_seed(0)
    decoded = torch.randn(2, 16, 8, 8)
    base = DenseHead(DenseHeadConfig(hidden=(4,)), _spec(16, 2)).eval()
    scaled = DenseHead(DenseHeadConfig(hidden=(4,), output_scale=10.0), _spec(16, 2)).eval()
    scaled.load_state_dict(base.state_dict())
    with torch.no_grad():
        a, b = base(_inputs(decoded, (16, 16))), scaled(_inputs(decoded, (16, 16)))
    for key in ("agl", "mag"):
        torch.testing.assert_close(b[key], 10.0 * a[key])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UsageError, match="output_scale"):
            DenseHeadConfig(output_scale=bad)


def test_output_stride_predicts_coarser_and_resizes_the_maps_bilinearly() -> None:
    torch.manual_seed(0)
    decoded = torch.randn(2, 16, 8, 8)
    # Decoder stride 4: output_stride 2 keeps one of the two ×2 stages.
    fine = DenseHead(DenseHeadConfig(hidden=(4,), shared_trunk=False), _spec(16, 4))
    coarse = DenseHead(
        DenseHeadConfig(hidden=(4,), shared_trunk=False, output_stride=2), _spec(16, 4)
    ).eval()
    n_deconv = sum(isinstance(m, torch.nn.ConvTranspose2d) for m in coarse.modules())
    assert n_deconv == 2  # one stage per branch, against two for output_stride 1
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in fine.modules()) == 4
    with torch.no_grad():
        out = coarse(_inputs(decoded, (32, 32)))
        gsd = torch.full((2,), 0.3)
        half = coarse.height(coarse.trunk(decoded), gsd)  # the branch's own map, stride 2
    assert tuple(half.shape) == (2, 1, 16, 16)
    assert tuple(out["agl"].shape) == (2, 1, 32, 32)
    expected = torch.nn.functional.interpolate(half, size=(32, 32), mode="bilinear")
    torch.testing.assert_close(out["agl"], expected)


def test_output_stride_must_be_a_power_of_two_within_the_decoder_stride() -> None:
    for bad in (0, 3, -2, True, 2.0):
        with pytest.raises(UsageError, match="output_stride"):
            DenseHeadConfig(output_stride=bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="coarser than the decoder"):
        DenseHead(DenseHeadConfig(output_stride=4), _spec(16, 2))
    # Equal to the decoder's stride: no stage at all, the branches run on the decoder map.
    head = DenseHead(DenseHeadConfig(hidden=(4,), output_stride=2), _spec(16, 2))
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in head.modules())
    out = head(_inputs(torch.randn(1, 16, 8, 8), (16, 16)))
    assert tuple(out["agl"].shape) == (1, 1, 16, 16)


def test_output_stride_round_trips_through_the_model_spec() -> None:
    spec = get_preset("tiny-lean-gs-bilinear")
    assert spec.heads[0].output_stride == 2
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec
    model = create_model(spec).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64), torch.tensor([0.3]))
    assert tuple(out["agl"].shape) == (1, 1, 64, 64)


@pytest.mark.parametrize("preset", ["tiny-lean-gs-sd", "tiny-lean-gs-att"])
def test_a_detached_scale_is_trained_by_the_scale_loss_alone(preset: str) -> None:
    """``map_trains_scale: false``: the magnitude map's loss leaves the scale untouched."""
    torch.manual_seed(0)
    model = create_model(preset)
    gsd = torch.tensor([0.3, 0.5])
    out = model(torch.rand(2, 3, 64, 64), gsd)
    # Both pools begin at init_cot / GSD for every image.
    torch.testing.assert_close(out["scale"], 0.3 / gsd)
    head = model.heads["global_scale"]
    # The map is the detached AGL times the detached scale: no loss on it trains anything.
    assert not out["mag"].requires_grad
    out["scale"].sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


def test_attention_scale_is_the_weighted_mean_of_per_pixel_log_estimates() -> None:
    """Estimates of log scale where the weights point, and the GSD prior around them."""
    config = GlobalScaleHeadConfig(hidden=(4,), pool="attention", init_cot=0.4)
    head = GlobalScaleHead(config, _spec(3, 1))
    conv_in, _, _, conv_out = head.local  # type: ignore[misc]
    with torch.no_grad():
        # Identity-like: channel 0 of the decoded map is the estimate, channel 1 the logit.
        conv_in.weight.zero_()
        conv_in.bias.zero_()
        conv_in.weight[0, 0, 1, 1] = 1.0
        conv_in.weight[1, 1, 1, 1] = 1.0
        conv_out.weight.zero_()
        conv_out.weight[0, 0, 0, 0] = 1.0
        conv_out.weight[1, 1, 0, 0] = 1.0
    decoded = torch.zeros(2, 3, 8, 8)
    decoded[:, 0] = 0.1  # flat ground: a weak estimate
    decoded[0, 0, 2:4, 2:4] = 0.7  # a facade says log-scale +0.7 ...
    decoded[0, 1, 2:4, 2:4] = 30.0  # ... and wins the attention
    agl = torch.ones(2, 1, 8, 8)
    out = head(HeadInputs((8, 8), [], decoded, torch.tensor([0.5, 0.5]), {"agl": agl}))
    expected = 0.4 / 0.5 * torch.exp(torch.tensor([0.7, 0.1]))
    torch.testing.assert_close(out["scale"], expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out["mag"], expected[:, None, None, None].expand(2, 1, 8, 8))


def test_global_scale_pool_options_are_checked() -> None:
    with pytest.raises(UsageError, match="pool must be global or attention"):
        GlobalScaleHeadConfig(pool="max")
    with pytest.raises(UsageError, match="one hidden width"):
        GlobalScaleHeadConfig(pool="attention", hidden=(8, 8))


@pytest.mark.parametrize("factor", [1.0, 0.5])
def test_log_scale_map_is_in_the_inputs_pixels_at_any_resolution_factor(factor: float) -> None:
    """At initialisation every estimate equals the prior, so the map is ln(scale) of the
    image — also when the network runs at half resolution (its px are twice as large)."""
    spec = ModelSpec.from_dict(
        {**get_preset("tiny-lean-gs-att").to_dict(), "input": {"resolution_factor": factor}}
    )
    model = create_model(spec).train()
    out = model(torch.rand(2, 3, 64, 64), torch.tensor([0.3, 0.5]))
    assert out["log_scale_map"].shape == (2, 1, 64, 64)
    torch.testing.assert_close(out["scale"], 0.3 / torch.tensor([0.3, 0.5]))
    expected = torch.log(out["scale"])[:, None, None, None].expand(2, 1, 64, 64)
    torch.testing.assert_close(out["log_scale_map"], expected)
    assert "log_scale_map" not in model.eval()(torch.rand(1, 3, 64, 64), torch.tensor([0.3]))
