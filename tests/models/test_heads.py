"""Heads: dense AGL/MAG stages, orientation MLP, dense attention orientation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geopose import conventions
from geopose.errors import UsageError
from geopose.models import create_model, get_preset
from geopose.models.config import DenseHeadConfig, DenseOrientationHeadConfig, ModelConfig
from geopose.models.direction import direction_to_angle
from geopose.models.head_api import FeatureSpec, HeadInputs
from geopose.models.head_dense import DenseHead
from geopose.models.head_dense_orientation import attention_pool, gradient_magnitude


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
    model = create_model(ModelConfig.from_dict(base))
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
