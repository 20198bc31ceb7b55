"""Dense orientation head: per-pixel directions pooled by attention on AGL edges.

A small conv stack on the finest decoder map predicts a direction at every pixel
(bilinearly brought to the image's size). Pixels vote with weights
``softmax(t · |∇agl|)`` over the image, where ``agl`` is the predicted height (m,
detached: the orientation loss does not reshape heights) and ``|∇agl|`` its central-
difference gradient magnitude (m/px). Building edges, where height changes, carry the
lean of the image; flat ground, where the gradient is 0, gets the smallest weight.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geopose.models.blocks import height_gradient, make_activation, resize_to
from geopose.models.config import DenseOrientationHeadConfig
from geopose.models.direction import direction_to_angle, unit_direction
from geopose.models.head_api import FeatureSpec, HeadInputs


def gradient_magnitude(agl: Tensor) -> Tensor:
    """|∇agl| (m/px) of B×1×H×W maps by central differences, replicate-padded borders."""
    gx, gy = height_gradient(agl)
    return torch.sqrt(gx * gx + gy * gy)


def attention_pool(field: Tensor, logits: Tensor) -> Tensor:
    """Softmax-over-pixels weighted mean of a B×C×H×W field; ``logits`` B×1×H×W → B×C."""
    weights = torch.softmax(logits.flatten(1).float(), dim=1)
    return (field.flatten(2).float() * weights.unsqueeze(1)).sum(dim=2)


class DenseOrientationHead(nn.Module):
    """``direction`` B×2 unit (dx, dy) and ``angle`` B (rad), needs the ``agl`` output."""

    requires = ("agl",)
    provides = ("direction", "angle")

    def __init__(self, config: DenseOrientationHeadConfig, spec: FeatureSpec) -> None:
        super().__init__()
        self.field = nn.Sequential(
            nn.Conv2d(spec.decoder_channels, config.hidden, 3, padding=1),
            make_activation(config.activation),
            nn.Conv2d(config.hidden, 2, 1),
        )
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.temperature)))

    def forward(self, inputs: HeadInputs) -> dict[str, Tensor]:
        field = F.normalize(self.field(inputs.decoded).float(), dim=1, eps=1e-6)
        field = resize_to(field, inputs.image_size)
        edges = gradient_magnitude(inputs.outputs["agl"].detach().float())
        direction = unit_direction(attention_pool(field, self.log_temperature.exp() * edges))
        return {"direction": direction, "angle": direction_to_angle(direction)}
