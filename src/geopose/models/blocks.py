"""Small building blocks shared by decoders and heads: activations, conv blocks, planes."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from geopose.errors import UsageError

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (``relu``, ``silu``, ``gelu``, ``leaky_relu``, ...)."""
    if name not in _ACTIVATIONS:
        raise UsageError(f"unknown activation {name!r}; known: {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


def conv_bn_act(in_ch: int, out_ch: int, activation: str, kernel_size: int = 3) -> nn.Sequential:
    """Conv (no bias) → BatchNorm → activation, 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        make_activation(activation),
    )


def conv_act(in_ch: int, out_ch: int, activation: str, kernel_size: int = 3) -> nn.Sequential:
    """Conv (with bias) → activation, 'same' padding; no normalisation."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2),
        make_activation(activation),
    )


class DepthwiseSeparableConv2d(nn.Module):
    """3×3 depthwise conv followed by a 1×1 pointwise conv, both without bias."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, padding=1, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


def constant_plane(value: Tensor, like: Tensor) -> Tensor:
    """A B×1×H×W tensor holding ``value[b]`` everywhere, in ``like``'s dtype and size."""
    return value.reshape(-1, 1, 1, 1).to(like.dtype).expand(-1, 1, like.shape[-2], like.shape[-1])


def resize_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize to ``size`` (H, W) when needed; identity otherwise."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def height_gradient(agl: Tensor) -> tuple[Tensor, Tensor]:
    """Central-difference gradient ``(∂/∂column, ∂/∂row)`` (m/px) of B×1×H×W heights,
    replicate-padded at the borders."""
    padded = F.pad(agl, (1, 1, 1, 1), mode="replicate")
    gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    return gx, gy
