"""What every head receives: shapes at build time, tensors at run time.

A head is an ``nn.Module`` built as ``Head(config, spec)`` with class attributes
``requires`` (output keys it reads from earlier heads) and ``provides`` (keys it
returns); ``forward(inputs)`` returns a dict of those keys. The model runs its heads in
config order and merges their dicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class FeatureSpec:
    """Channels and strides (px) of the encoder levels (finest first) and the decoder map."""

    encoder_channels: tuple[int, ...]
    encoder_strides: tuple[int, ...]
    decoder_channels: int
    decoder_stride: int


@dataclass
class HeadInputs:
    """Run-time inputs of a head.

    ``image_size`` (H, W) px; ``features`` encoder maps, finest first; ``decoded`` the
    finest decoder map; ``gsd`` shape B, metres per pixel; ``outputs`` what earlier heads
    returned.
    """

    image_size: tuple[int, int]
    features: list[Tensor]
    decoded: Tensor
    gsd: Tensor
    outputs: dict[str, Tensor]
