"""FPN decoder: lateral 1×1 convs, top-down sum, 3×3 smoothing, all levels fused.

Every encoder level is projected to ``channels`` by a 1×1 conv; from the deepest level
down, each level adds the ×2-upsampled level above it; each sum is smoothed by a 3×3
conv-BN-activation; the smoothed maps are brought to the finest level's size and summed.
The output map has the finest encoder stride (px) and ``channels`` channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from geopose.errors import UsageError
from geopose.models.blocks import conv_bn_act
from geopose.models.config import FPNDecoderConfig


class FPNDecoder(nn.Module):
    """Feature pyramid decoder; ``out_channels`` and ``out_stride`` of its one output map."""

    def __init__(
        self,
        encoder_channels: Sequence[int],
        encoder_strides: Sequence[int],
        config: FPNDecoderConfig,
    ) -> None:
        super().__init__()
        if config.channels < 1:
            raise UsageError(f"fpn decoder: channels must be positive, got {config.channels}")
        self.lateral = nn.ModuleList(nn.Conv2d(c, config.channels, 1) for c in encoder_channels)
        self.smooth = nn.ModuleList(
            conv_bn_act(config.channels, config.channels, config.activation)
            for _ in encoder_channels
        )
        self.out_channels = config.channels
        self.out_stride = int(encoder_strides[0])

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """The fused map at the finest encoder level, B × channels × H/stride × W/stride."""
        top = self.lateral[-1](features[-1])
        pyramid = [self.smooth[-1](top)]
        for level in range(len(features) - 2, -1, -1):
            lateral = self.lateral[level](features[level])
            top = lateral + F.interpolate(top, size=lateral.shape[-2:], mode="nearest")
            pyramid.append(self.smooth[level](top))
        size = pyramid[-1].shape[-2:]
        fused = pyramid[-1]
        for level_map in pyramid[:-1]:
            fused = fused + F.interpolate(
                level_map, size=size, mode="bilinear", align_corners=False
            )
        return fused
