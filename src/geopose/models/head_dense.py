"""Dense head: AGL (metres) and flow magnitude (pixels) at output stride 1.

From the finest decoder map, ×2 upsampling stages (1×1 conv → ×2 upsampling that
divides channels by 4 → optional 3×3 conv-BN-activation) reach stride 1 gradually,
never in one bilinear jump (unless ``output_stride`` > 1 asks for that jump: the maps
are then predicted at that stride and resized bilinearly to the image). The stages are
shared by both branches or owned by each (``shared_trunk``). The height branch gets the
GSD (m/px) as an extra constant channel. Both outputs pass through a non-negative
activation (``identity``: raw, signed). The last convolution of each branch (to one
channel) and the output activation run in float32 outside autocast: under bf16 a
height of 200 m would otherwise be rounded to a multiple of 1 m (bf16 keeps 8
significant bits) before the loss and the metric see it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from geopose.errors import UsageError
from geopose.models.blocks import constant_plane, make_activation, resize_to
from geopose.models.config import DenseHeadConfig
from geopose.models.head_api import FeatureSpec, HeadInputs
from geopose.models.upsample import make_upsample
from geopose.precision import no_autocast

#: Output activations: non-negative maps, or raw signed ones (the official baseline's
#: heads; AGL files are clamped at 0 when written).
_NON_NEGATIVE = ("relu", "softplus", "identity")


def upsample_stages(
    in_ch: int, n_stages: int, config: DenseHeadConfig
) -> tuple[nn.Sequential, int]:
    """``n_stages`` ×2 stages as one Sequential, and the channels they end with."""
    layers: list[nn.Module] = []
    ch = in_ch
    for _ in range(n_stages):
        width = (ch // 4) * 4
        if width == 0:
            raise UsageError(f"dense head: {ch} channels are too few for another ×2 stage")
        if config.upsample == "bilinear":
            layers += [nn.Conv2d(ch, width // 4, 1), make_upsample("bilinear", width // 4)]
        else:
            layers += [nn.Conv2d(ch, width, 1), make_upsample(config.upsample, width)]
        ch = width // 4
        if config.post_conv:
            layers += [
                nn.Conv2d(ch, ch, 3, padding=1, bias=False),
                nn.BatchNorm2d(ch),
                make_activation(config.activation),
            ]
    return nn.Sequential(*layers), ch


class RegressionBranch(nn.Module):
    """Optional own upsampling stages, then 3×3 convs of widths ``hidden`` and one to 1 channel.

    With ``gsd_at`` = j, conv number j gets the GSD plane as one extra input channel.
    """

    def __init__(
        self,
        in_ch: int,
        n_stages: int,
        gsd_at: int | None,
        config: DenseHeadConfig,
    ) -> None:
        super().__init__()
        self.up, ch = upsample_stages(in_ch, n_stages, config)
        widths = [*config.hidden, 1]
        if gsd_at is not None and not 0 <= gsd_at < len(widths):
            raise UsageError(f"dense head: height_gsd_at={gsd_at} outside 0..{len(widths) - 1}")
        self.gsd_at = gsd_at
        convs = []
        for j, width in enumerate(widths):
            convs.append(nn.Conv2d(ch + (1 if j == gsd_at else 0), width, 3, padding=1))
            ch = width
        self.convs = nn.ModuleList(convs)
        self.act = make_activation(config.activation)
        self.out_act = make_activation(config.output_activation)
        # Heights span 0-200 m: a unit of the last conv worth several metres lets the
        # layer reach tall roofs with weights of order one (Adam moves each weight by
        # about the learning rate per step, whatever the error).
        self.output_scale = float(config.output_scale)

    def forward(self, x: Tensor, gsd: Tensor) -> Tensor:
        x = self.up(x)
        last = len(self.convs) - 1
        for j, conv in enumerate(self.convs):
            if j == self.gsd_at:
                x = torch.cat([x, constant_plane(gsd, x)], dim=1)
            if j == last:
                with no_autocast(x.device.type):
                    x = self.out_act(conv(x.float()))
            else:
                x = self.act(conv(x))
        return x * self.output_scale if self.output_scale != 1.0 else x


class DenseHead(nn.Module):
    """``agl`` B×1×H×W (m) and/or ``mag`` B×1×H×W (px), ≥ 0, at the image's size."""

    requires: tuple[str, ...] = ()
    provides = ("agl", "mag")

    @staticmethod
    def provides_for(config: DenseHeadConfig) -> tuple[str, ...]:
        """The keys a head of ``config`` returns (only those whose branch it has)."""
        return tuple(k for k, on in (("agl", config.height), ("mag", config.magnitude)) if on)

    def __init__(self, config: DenseHeadConfig, spec: FeatureSpec) -> None:
        super().__init__()
        if config.output_activation not in _NON_NEGATIVE:
            raise UsageError(
                f"dense head: output_activation must be one of {', '.join(_NON_NEGATIVE)}"
            )
        n_stages = round(math.log2(spec.decoder_stride))
        if 2**n_stages != spec.decoder_stride:
            raise UsageError(
                f"dense head: decoder stride {spec.decoder_stride} is not a power of 2"
            )
        if config.output_stride > spec.decoder_stride:
            raise UsageError(
                f"dense head: output_stride {config.output_stride} is coarser than the "
                f"decoder's stride {spec.decoder_stride}"
            )
        # Stages from the decoder's stride down to output_stride; the maps are resized
        # bilinearly from there to the image (resize_to in forward).
        n_stages -= round(math.log2(config.output_stride))
        self.dropout = nn.Dropout2d(config.dropout)
        ch = spec.decoder_channels
        branch_stages = n_stages
        if config.shared_trunk:
            self.trunk, ch = upsample_stages(ch, n_stages, config)
            branch_stages = 0
        else:
            self.trunk = nn.Sequential()
        self.height = (
            RegressionBranch(ch, branch_stages, config.height_gsd_at, config)
            if config.height
            else None
        )
        self.magnitude = (
            RegressionBranch(ch, branch_stages, None, config) if config.magnitude else None
        )

    def forward(self, inputs: HeadInputs) -> dict[str, Tensor]:
        x = self.trunk(self.dropout(inputs.decoded))
        out: dict[str, Tensor] = {}
        if self.height is not None:
            out["agl"] = resize_to(self.height(x, inputs.gsd), inputs.image_size)
        if self.magnitude is not None:
            out["mag"] = resize_to(self.magnitude(x, inputs.gsd), inputs.image_size)
        return out
