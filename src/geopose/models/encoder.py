"""The encoder: any timm network used with ``features_only``, with its own normalisation.

The encoder takes RGB in [0, 1] (B×3×H×W float) and applies the mean/std of its timm
pretrained config itself, so a saved model is self-contained. It returns the feature
maps of ``out_indices``, finest first.
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


class TimmEncoder(nn.Module):
    """A timm ``features_only`` backbone; ``channels`` and ``strides`` (px) per level."""

    mean: Tensor
    std: Tensor

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
        cfg = getattr(self.net, "pretrained_cfg", None) or {}
        mean = cfg.get("mean", (0.485, 0.456, 0.406))
        std = cfg.get("std", (0.229, 0.224, 0.225))
        self.register_buffer("mean", torch.tensor(mean).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).reshape(1, 3, 1, 1), persistent=False)
        if isinstance(pretrained, str | Path):
            load_encoder_weights(self, pretrained)

    def forward(self, image: Tensor) -> list[Tensor]:
        """Feature maps (finest first) of RGB ``image`` in [0, 1]."""
        x = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
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
