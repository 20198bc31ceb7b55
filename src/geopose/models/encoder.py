"""The encoder: any timm network used with ``features_only``.

The encoder takes the network input as its weights expect it (B×3×H×W float, already
normalised by the model's :class:`geopose.models.input.InputAdapter`) and returns the
feature maps of ``out_indices``, finest first. :meth:`TimmEncoder.default_normalisation`
gives the mean/std of its timm pretrained config, which a spec without explicit ones
resolves to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from torch import Tensor, nn

from geopose.errors import DataError, UsageError
from geopose.models.config import EncoderConfig
from geopose.models.weights import load_strict, read_state_dict

#: Mean/std (RGB, [0, 1] scale) when a timm network's pretrained config names none.
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


class TimmEncoder(nn.Module):
    """A timm ``features_only`` backbone; ``channels`` and ``strides`` (px) per level."""

    def __init__(self, config: EncoderConfig, pretrained: bool | str | Path = False) -> None:
        super().__init__()
        self.config = config
        try:
            self.net = timm.create_model(
                config.name,
                features_only=True,
                out_indices=tuple(config.out_indices),
                pretrained=pretrained is True,
            )
        except (RuntimeError, ValueError, IndexError) as err:
            raise UsageError(f"encoder {config.name!r}: {err}") from err
        info: Any = self.net.feature_info
        self.channels: list[int] = list(info.channels())
        self.strides: list[int] = list(info.reduction())
        for fine, coarse in zip(self.strides, self.strides[1:], strict=False):
            if coarse != 2 * fine:
                raise UsageError(
                    f"encoder {config.name!r}: feature strides {self.strides} must double "
                    "from level to level"
                )
        if isinstance(pretrained, str | Path):
            load_encoder_weights(self, pretrained)

    def default_normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)`` of RGB in [0, 1] from timm's pretrained config (ImageNet's if
        it names none): what the encoder's pretrained weights were trained with."""
        cfg = getattr(self.net, "pretrained_cfg", None) or {}
        mean = cfg.get("mean", _IMAGENET[0])
        std = cfg.get("std", _IMAGENET[1])
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Feature maps (finest first) of the normalised network input ``x``."""
        return list(self.net(x))


def load_encoder_weights(encoder: TimmEncoder, path: str | Path) -> None:
    """Load a local weights file into the encoder, strictly.

    The file holds the timm network's own state dict (as timm or its hub publish it).
    Keys that the full timm network has but its ``features_only`` version lacks (the
    classifier and final conv) are dropped; any other missing or unexpected key raises
    DataError naming it.
    """
    state = read_state_dict(path)
    own = set(encoder.net.state_dict())
    with torch.device("meta"):
        try:
            full = timm.create_model(encoder.config.name, pretrained=False)
        except Exception as err:  # features-only nets may lack a full form
            raise DataError(path, f"cannot build full {encoder.config.name!r}: {err}") from err
    head_only = set(full.state_dict()) - own
    state = {k: v for k, v in state.items() if k not in head_only}
    load_strict(encoder.net, state, path)
