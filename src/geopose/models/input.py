"""The model's input convention at run time: from RGB in [0, 1] to what the network saw.

A geopose model always takes RGB in [0, 1] (DESIGN.md §4). :class:`InputAdapter` turns
that into the tensor its encoder was trained on (channel order, value range, mean/std;
see :class:`geopose.models.config.InputConvention`); :func:`to_network_resolution` and
:func:`to_input_resolution` carry the resolution factor (image in, maps and scale out).
Every place that runs a model therefore honours its convention without knowing it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geopose.errors import UsageError
from geopose.models.config import InputConvention

#: Network-channel → input-channel index for each channel order (input is RGB).
_ORDER = {"RGB": None, "BGR": (2, 1, 0)}


class InputAdapter(nn.Module):
    """Channel order, value range and normalisation of a resolved :class:`InputConvention`.

    The mean/std are buffers that are not saved in the state dict (the spec holds them).
    """

    mean: Tensor
    std: Tensor

    def __init__(self, convention: InputConvention) -> None:
        super().__init__()
        if convention.mean is None or convention.std is None:
            raise UsageError("input convention: mean/std must be resolved before building")
        self.convention = convention
        self.order = _ORDER[convention.channel_order]
        self.value_range = float(convention.value_range)
        # torch's default dtype, as model parameters get (float64 for float64 parity runs).
        mean = torch.tensor(convention.mean).reshape(1, 3, 1, 1)
        std = torch.tensor(convention.std).reshape(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        """The network's input for ``image`` (B×3×H×W RGB in [0, 1])."""
        x = image if self.order is None else image[:, list(self.order)]
        if self.value_range != 1.0:
            x = x * self.value_range
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


def network_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """(H, W) px at which a network with ``resolution_factor`` runs on a ``size`` input."""
    return (max(1, round(size[0] * factor)), max(1, round(size[1] * factor)))


def to_network_resolution(
    image: Tensor, gsd: Tensor, convention: InputConvention
) -> tuple[Tensor, Tensor]:
    """``(image, gsd)`` resized by the convention's factor (identity at factor 1).

    ``gsd`` (m/px) grows as the image shrinks: gsd' = gsd / factor.
    """
    factor = convention.resolution_factor
    if factor == 1.0:
        return image, gsd
    size = network_size((int(image.shape[-2]), int(image.shape[-1])), factor)
    mode = convention.downsample
    if mode == "bilinear":
        resized = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
    else:
        resized = F.interpolate(image, size=size, mode=mode)
    return resized, gsd / factor


def to_input_resolution(
    outputs: dict[str, Tensor], size: tuple[int, int], convention: InputConvention
) -> dict[str, Tensor]:
    """Outputs of the network brought back to the input's ``size`` (H, W) and pixels.

    AGL (m) is resized; magnitude (px) is resized and divided by the factor; scale
    (px/m) is divided by the factor; direction and angle are unchanged. Other maps the
    heads return in training mode (e.g. ``lean_logits``) are resized. Identity at
    factor 1.
    """
    factor = convention.resolution_factor
    if factor == 1.0:
        return outputs
    out = dict(outputs)
    for key, value in outputs.items():
        if value.ndim == 4:
            if convention.upsample == "bilinear":
                value = F.interpolate(value, size=size, mode="bilinear", align_corners=False)
            else:
                value = F.interpolate(value, size=size, mode="nearest")
            if key == "mag":
                value = value / factor
            elif key == "log_scale_map":  # ln(px/m): px of the input are 1/factor as many
                value = value - math.log(factor)
            out[key] = value
    if "scale" in out:
        out["scale"] = outputs["scale"] / factor
    return out
