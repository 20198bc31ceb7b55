"""The UNet decoder's options: ``plain`` blocks and ``upsample_conv`` (the 1st place's)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from geopose.models.config import DecoderConfig
from geopose.models.decoder_unet import UNetDecoder


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
