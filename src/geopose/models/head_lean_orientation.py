"""Lean orientation head: the flow direction read from facades, not learned as a vector.

In an oblique image every vertical surface leans along the flow: a facade is a band of
pixels whose height falls from the roof to the ground along the flow direction ``d``,
with slope ``1 / scale`` m/px. So the gradient of the AGL map over facade pixels points
along ``−d``, and ``d ∝ −Σ ∇agl`` over those pixels. Measured on synthetic tiles
(docs/demo.md), this recovers the direction to a median of 8–23° even with the *blurred*
AGL of a briefly trained model, given which pixels are facades.

What the network must learn is therefore only *where* the lean shows — a per-pixel mask,
the same under any rotation or flip of the image (easy under D4 augmentation) — instead
of a direction vector from global features, which a small model was measured not to
learn at all within a CPU budget. The mask is trained by the ``lean_bce`` loss term
(:class:`geopose.losses.LeanMaskLoss`) from the true AGL, and the direction loss reaches
it too. The predicted AGL is detached: the direction does not reshape heights.

Outputs ``direction`` B×2 unit (dx, dy), ``angle`` B (rad) and ``lean_logits``
B×1×H×W (logits of the mask; returned by the model in training mode only).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from geopose.models.blocks import height_gradient, make_activation, resize_to
from geopose.models.config import LeanOrientationHeadConfig
from geopose.models.direction import direction_to_angle, unit_direction
from geopose.models.head_api import FeatureSpec, HeadInputs


def lean_direction(weights: Tensor, agl: Tensor) -> Tensor:
    """``−Σ w·∇agl`` over each image: B×2 (dx, dy), not normalised.

    ``weights`` and ``agl`` (m) are B×1×H×W; the gradient is in m/px.
    """
    gx, gy = height_gradient(agl)
    return -torch.stack([(weights * gx).sum(dim=(1, 2, 3)), (weights * gy).sum(dim=(1, 2, 3))], 1)


class LeanOrientationHead(nn.Module):
    """``direction`` and ``angle`` from the lean mask and the ``agl`` output (module text)."""

    requires = ("agl",)
    provides = ("direction", "angle", "lean_logits")

    @staticmethod
    def requires_for(config: LeanOrientationHeadConfig) -> tuple[str, ...]:
        """The map the direction is read from: ``agl`` or ``mag``."""
        return (config.source,)

    def __init__(self, config: LeanOrientationHeadConfig, spec: FeatureSpec) -> None:
        super().__init__()
        self.source = config.source
        self.mask = nn.Sequential(
            nn.Conv2d(spec.decoder_channels, config.hidden, 3, padding=1),
            make_activation(config.activation),
            nn.Conv2d(config.hidden, 1, 1),
        )

    def forward(self, inputs: HeadInputs) -> dict[str, Tensor]:
        logits = resize_to(self.mask(inputs.decoded).float(), inputs.image_size)
        # mag = agl · scale with one scale per image: both maps lean the same way.
        height = inputs.outputs[self.source].detach().float()
        direction = unit_direction(lean_direction(torch.sigmoid(logits), height))
        angle = direction_to_angle(direction)
        return {"direction": direction, "angle": angle, "lean_logits": logits}
