"""Orientation head: global-pooled MLP on the deepest encoder map → unit (dx, dy) and angle."""

from __future__ import annotations

from torch import Tensor, nn

from geopose.models.blocks import make_activation
from geopose.models.config import OrientationHeadConfig
from geopose.models.direction import direction_to_angle, unit_direction
from geopose.models.head_api import FeatureSpec, HeadInputs


class OrientationHead(nn.Module):
    """``direction`` B×2 unit (dx, dy) and ``angle`` B (rad) from the deepest encoder map.

    Layers: dropout, then for each width in ``hidden`` a linear layer and activation,
    then a linear layer to 2.
    """

    requires: tuple[str, ...] = ()
    provides = ("direction", "angle")

    def __init__(self, config: OrientationHeadConfig, spec: FeatureSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(config.dropout)]
        ch = spec.encoder_channels[-1]
        for width in config.hidden:
            layers += [nn.Linear(ch, width), make_activation(config.activation)]
            ch = width
        layers.append(nn.Linear(ch, 2))
        self.mlp = nn.Sequential(*layers)

    def forward(self, inputs: HeadInputs) -> dict[str, Tensor]:
        pooled = inputs.features[-1].mean(dim=(2, 3))
        direction = unit_direction(self.mlp(pooled))
        return {"direction": direction, "angle": direction_to_angle(direction)}
