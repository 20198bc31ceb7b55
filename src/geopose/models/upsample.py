"""×2 upsampling modules used by decoders and heads.

Each doubles the spatial size (or reaches an explicit ``size`` (H, W) in pixels) and
exposes ``out_channels``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from geopose.errors import UsageError


class Upsample(nn.Module):
    """Base of the ×2 upsampling modules: ``out_channels`` is their output channel count."""

    out_channels: int

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        raise NotImplementedError


def _target_size(x: Tensor, size: tuple[int, int] | None) -> tuple[int, int]:
    return (x.shape[-2] * 2, x.shape[-1] * 2) if size is None else size


class InterpolateUp(Upsample):
    """Parameter-free ×2 upsampling (``bilinear`` or ``nearest``); channels unchanged."""

    def __init__(self, channels: int, mode: str, align_corners: bool = False) -> None:
        super().__init__()
        self.out_channels = channels
        self.mode = mode
        self.align_corners = align_corners if mode == "bilinear" else None

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        return F.interpolate(
            x, size=_target_size(x, size), mode=self.mode, align_corners=self.align_corners
        )


class BilinearAdditiveUp(Upsample):
    """Bilinear ×2 upsampling, then the mean of each group of ``n`` consecutive channels.

    Parameter-free; ``in_channels // n`` output channels (arXiv:1707.05847).
    """

    def __init__(self, in_channels: int, n: int = 4, align_corners: bool = True) -> None:
        super().__init__()
        if in_channels % n:
            raise UsageError(
                f"bilinear-additive upsampling: {in_channels} channels not divisible by {n}"
            )
        self.n = n
        self.out_channels = in_channels // n
        self.align_corners = align_corners

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        x = F.interpolate(
            x, size=_target_size(x, size), mode="bilinear", align_corners=self.align_corners
        )
        b, c, h, w = x.shape
        return x.reshape(b, c // self.n, self.n, h, w).mean(dim=2)


class DeconvUp(Upsample):
    """Transposed 3×3 conv, stride 2: ×2 size, channels divided by ``n``."""

    def __init__(self, in_channels: int, n: int = 4) -> None:
        super().__init__()
        self.out_channels = in_channels // n
        self.conv = nn.ConvTranspose2d(
            in_channels, self.out_channels, 3, stride=2, padding=1, output_padding=1
        )

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        return self.conv(x, output_size=list(_target_size(x, size)))


class ResidualDeconvUp(Upsample):
    """Residual deconvolution upsampling ("The Devil is in the Decoder").

    A transposed conv (channels ÷ ``n``) plus a parameter-free bilinear-additive
    residual of the same shape.
    """

    def __init__(self, in_channels: int, n: int = 4, align_corners: bool = True) -> None:
        super().__init__()
        self.out_channels = in_channels // n
        self.conv = nn.ConvTranspose2d(
            in_channels, self.out_channels, 3, stride=2, padding=1, output_padding=1
        )
        self.residual = BilinearAdditiveUp(in_channels, n, align_corners)

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        target = _target_size(x, size)
        return self.conv(x, output_size=list(target)) + self.residual(x, target)


def make_upsample(kind: str, in_channels: int, align_corners: bool = False) -> Upsample:
    """×2 upsampling module by name: ``bilinear``, ``nearest``, ``deconv`` or ``rdtsc``."""
    if kind in ("bilinear", "nearest"):
        return InterpolateUp(in_channels, kind, align_corners)
    if kind == "deconv":
        return DeconvUp(in_channels)
    if kind == "rdtsc":
        return ResidualDeconvUp(in_channels, align_corners=True)
    raise UsageError(f"unknown upsampling {kind!r}; known: bilinear, nearest, deconv, rdtsc")
