"""UNet decoder: ×2 upsampling, skip concatenation, a conv block per level.

Three block types: ``conv`` (conv-BN-activation twice, the classic UNet block),
``residual`` (1×1 identity conv plus depthwise-separable conv → conv → depthwise-
separable conv, each followed by BN-activation), which with ``upsample="rdtsc"`` is the
residual-deconvolution UNet of "The Devil is in the Decoder", and ``plain`` (one 3×3
conv with bias → activation, no normalisation). With ``upsample_conv`` each level has a
3×3 conv (bias) → activation to its output width right after the upsampling, before
the skip concatenation; with ``plain`` blocks that is the 1st place's ``TimmUnet``
decoder (its last, skip-less level is then upsample → conv → conv).

Modules are registered as ``blocks``, ``upsamples``, then ``upsample_convs`` (only with
``upsample_conv``) so the state-dict order is stable (and matches the published
2nd-place networks).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from geopose.errors import UsageError
from geopose.models.blocks import DepthwiseSeparableConv2d, conv_act, conv_bn_act, make_activation
from geopose.models.config import DecoderConfig
from geopose.models.upsample import make_upsample


class ConvBlock(nn.Module):
    """Two 3×3 conv-BN-activation layers."""

    def __init__(self, in_ch: int, out_ch: int, activation: str) -> None:
        super().__init__()
        self.conv1 = conv_bn_act(in_ch, out_ch, activation)
        self.conv2 = conv_bn_act(out_ch, out_ch, activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))


class ResidualBlock(nn.Module):
    """Residual block: 1×1 identity conv + (DWSep → BN-act → conv → BN-act → DWSep → BN-act)."""

    def __init__(self, in_ch: int, out_ch: int, activation: str) -> None:
        super().__init__()
        self.identity = nn.Conv2d(in_ch, out_ch, 1)
        self.conv1 = DepthwiseSeparableConv2d(in_ch, out_ch)
        self.bn1 = nn.Sequential(nn.BatchNorm2d(out_ch), make_activation(activation))
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.Sequential(nn.BatchNorm2d(out_ch), make_activation(activation))
        self.conv3 = DepthwiseSeparableConv2d(out_ch, out_ch)
        self.bn3 = nn.Sequential(nn.BatchNorm2d(out_ch), make_activation(activation))

    def forward(self, x: Tensor) -> Tensor:
        residual = self.identity(x)
        x = self.bn1(self.conv1(x))
        x = self.bn2(self.conv2(x))
        x = self.bn3(self.conv3(x))
        return x + residual


class PlainBlock(nn.Module):
    """One 3×3 conv (with bias) → activation, no normalisation."""

    def __init__(self, in_ch: int, out_ch: int, activation: str) -> None:
        super().__init__()
        self.conv = conv_act(in_ch, out_ch, activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class WindowContext(nn.Module):
    """The deepest features, each window's mean of them appended (1×1 conv-BN-activation
    to ``channels`` each).

    The windows are fixed in cells (``k`` cells of stride s cover ``k·s`` px), not a
    fraction of the input as a pyramid pooling's bins are, so a 128 px training crop and a
    2048 px tile give each pixel the same context. At the borders the mean is over the
    cells inside the image.
    """

    def __init__(self, in_ch: int, windows: Sequence[int], channels: int, activation: str) -> None:
        super().__init__()
        self.windows = tuple(windows)
        self.projections = nn.ModuleList(
            conv_bn_act(in_ch, channels, activation, kernel_size=1) for _ in self.windows
        )
        self.out_channels = in_ch + channels * len(self.windows)

    def forward(self, x: Tensor) -> Tensor:
        pooled = [
            proj(F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False))
            for k, proj in zip(self.windows, self.projections, strict=True)
        ]
        return torch.cat([x, *pooled], dim=1)


_BLOCKS: dict[str, type[nn.Module]] = {
    "conv": ConvBlock,
    "residual": ResidualBlock,
    "plain": PlainBlock,
}


class UNetDecoder(nn.Module):
    """Decoder from encoder features (finest first) to one map at ``out_stride`` px.

    Attributes: ``out_channels`` and ``out_stride`` of the returned map.
    """

    def __init__(
        self, encoder_channels: Sequence[int], encoder_strides: Sequence[int], config: DecoderConfig
    ) -> None:
        super().__init__()
        if config.block not in _BLOCKS:
            known = ", ".join(_BLOCKS)
            raise UsageError(f"decoder: unknown block {config.block!r}; known: {known}")
        if not config.channels:
            raise UsageError("decoder: channels must name at least one block")
        deepest = encoder_strides[-1]
        if deepest % (2 ** len(config.channels)):
            raise UsageError(
                f"decoder: {len(config.channels)} ×2 blocks overshoot stride 1 "
                f"from stride {deepest}"
            )
        skips = list(reversed(encoder_channels[:-1]))
        blocks, upsamples, up_convs = [], [], []
        in_ch = encoder_channels[-1]
        # Absent (not empty) without the option, like upsample_convs below.
        self.context = (
            WindowContext(in_ch, config.context, config.context_channels, config.activation)
            if config.context
            else None
        )
        if self.context is not None:
            in_ch = self.context.out_channels
        for i, out_ch in enumerate(config.channels):
            up = make_upsample(config.upsample, in_ch, config.align_corners)
            up_ch = up.out_channels
            if config.upsample_conv:
                up_convs.append(conv_act(up_ch, out_ch, config.activation))
                up_ch = out_ch
            skip_ch = skips[i] if i < len(skips) else 0
            block = _BLOCKS[config.block]
            blocks.append(block(up_ch + skip_ch, out_ch, config.activation))
            upsamples.append(up)
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.upsamples = nn.ModuleList(upsamples)
        # Absent (not empty) without the option: older state dicts stay as they were.
        self.upsample_convs = nn.ModuleList(up_convs) if up_convs else None
        self.out_channels = config.channels[-1]
        self.out_stride = deepest // 2 ** len(config.channels)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """The finest decoder map, B × ``out_channels`` × H/out_stride × W/out_stride."""
        x = features[-1] if self.context is None else self.context(features[-1])
        skips = list(reversed(features[:-1]))
        for i, (up, block) in enumerate(zip(self.upsamples, self.blocks, strict=True)):
            skip = skips[i] if i < len(skips) else None
            x = up(x, None if skip is None else (skip.shape[-2], skip.shape[-1]))
            if self.upsample_convs is not None:
                x = self.upsample_convs[i](x)
            if skip is not None:
                x = torch.cat([x, skip], dim=1)
            x = block(x)
        return x
