"""The UNet decoder's options: ``plain`` blocks and ``upsample_conv`` (the 1st place's), and
the window context at its deepest level."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geopose.errors import UsageError
from geopose.models.config import DecoderConfig
from geopose.models.decoder_unet import UNetDecoder, WindowContext


def _conv_relu(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    return F.relu(F.conv2d(x, conv.weight, conv.bias, padding=1))


def _first_conv(module: Any) -> torch.nn.Conv2d:
    conv = module[0]
    assert isinstance(conv, torch.nn.Conv2d)
    return conv


def test_plain_blocks_with_upsample_conv_compute_the_first_places_decoder() -> None:
    # Per level: nearest ×2 → 3×3 conv → ReLU, concat the skip, 3×3 conv → ReLU; the last
    # level (no skip) is nearest ×2 → conv → ReLU → conv → ReLU.
    torch.manual_seed(0)
    channels, strides = [4, 6, 8], [2, 4, 8]
    config = DecoderConfig(
        channels=(5, 3, 3), block="plain", upsample="nearest", upsample_conv=True
    )
    decoder = UNetDecoder(channels, strides, config).eval()
    assert decoder.out_stride == 1
    assert decoder.out_channels == 3
    feats = [torch.randn(1, c, 16 // s, 16 // s) for c, s in zip(channels, strides, strict=True)]
    assert decoder.upsample_convs is not None
    up_convs = [_first_conv(seq) for seq in decoder.upsample_convs]
    blocks = [_first_conv(b.conv) for b in decoder.blocks]
    x = feats[-1]
    for i, skip in enumerate([feats[1], feats[0], None]):
        x = _conv_relu(F.interpolate(x, scale_factor=2, mode="nearest"), up_convs[i])
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        x = _conv_relu(x, blocks[i])
    with torch.no_grad():
        got = decoder(feats)
    torch.testing.assert_close(got, x, rtol=0, atol=1e-6)
    # Without the option there are no upsample convs in the state dict (older files load).
    plain = UNetDecoder(channels, strides, DecoderConfig(channels=(5, 3, 3), block="plain"))
    assert plain.upsample_convs is None
    assert not any("upsample_convs" in k for k in plain.state_dict())
    assert all(
        k.startswith("blocks.") and ".conv.0." in k for k in plain.state_dict()
    )  # one conv with bias per block, no normalisation


def _identity_context(in_ch: int, windows: tuple[int, ...]) -> WindowContext:
    """A WindowContext whose projections pass the window means through unchanged."""
    ctx = WindowContext(in_ch, windows, in_ch, "relu").eval()
    with torch.no_grad():
        for proj in ctx.projections:
            proj[0].weight.copy_(torch.eye(in_ch)[:, :, None, None])
    return ctx


def test_window_context_appends_the_mean_of_the_cells_inside_each_window() -> None:
    """Each appended channel is the mean of the input over the window's cells that lie
    inside the map (numpy reference); the input passes through first, unchanged."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 5, 6)).astype(np.float32)  # non-negative: ReLU keeps it
    ctx = _identity_context(3, (3, 5))
    out = ctx(torch.from_numpy(x)).detach().numpy()
    assert out.shape == (2, 3 + 3 * 2, 5, 6)
    np.testing.assert_array_equal(out[:, :3], x)
    for j, k in enumerate((3, 5)):
        r = k // 2
        expected = np.zeros_like(x)
        for i in range(5):
            for c in range(6):
                window = x[:, :, max(0, i - r) : i + r + 1, max(0, c - r) : c + r + 1]
                expected[:, :, i, c] = window.mean(axis=(2, 3))
        np.testing.assert_allclose(out[:, 3 + 3 * j : 6 + 3 * j], expected, rtol=1e-5, atol=1e-6)


def test_window_context_sees_the_same_neighbourhood_on_a_crop_and_on_a_larger_tile() -> None:
    """Fixed windows, not bins: a pixel's context on an 8×8 map equals its context on the
    4×4 crop around it wherever the window fits inside the crop."""
    x = torch.rand(1, 2, 8, 8)
    ctx = _identity_context(2, (3,))
    whole = ctx(x)
    crop = ctx(x[:, :, 2:6, 2:6])
    torch.testing.assert_close(crop[:, :, 1:3, 1:3], whole[:, :, 3:5, 3:5])


@pytest.mark.parametrize("window", [4, 1, True])
def test_context_windows_must_be_odd_and_at_least_three(window: object) -> None:
    with pytest.raises(UsageError, match="context window"):
        DecoderConfig(context=(window,))  # type: ignore[arg-type]
