"""The geopose model: input convention → encoder → decoder → heads, one output dict.

``model(image, gsd)``: ``image`` B×3×H×W float RGB in [0, 1], ``gsd`` B (or B×1) metres
per pixel. Returns (DESIGN.md §4) ``agl`` B×1×H×W (m), ``mag`` B×1×H×W (px), ``scale``
B (px/m), ``direction`` B×2 unit (dx, dy), ``angle`` B (rad, [0, 2π)). In training mode
it also returns what heads provide beyond that contract (e.g. ``lean_logits``), for
their loss terms. The model applies its spec's input convention (channel order,
normalisation, resolution factor) itself, so whatever runs it — prediction, TTA,
windows, ensembles, ONNX export, training — needs to know nothing about it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from geopose.errors import UsageError
from geopose.models.config import HeadConfig, ModelSpec
from geopose.models.decoder_fpn import FPNDecoder
from geopose.models.decoder_unet import UNetDecoder
from geopose.models.encoder import TimmEncoder
from geopose.models.head_api import FeatureSpec, HeadInputs
from geopose.models.head_dense import DenseHead
from geopose.models.head_dense_orientation import DenseOrientationHead
from geopose.models.head_global_scale import GlobalScaleHead
from geopose.models.head_lean_orientation import LeanOrientationHead
from geopose.models.head_orientation import OrientationHead
from geopose.models.head_scale import ScaleHead
from geopose.models.input import InputAdapter, to_input_resolution, to_network_resolution

#: Output keys every model returns.
OUTPUT_KEYS = ("agl", "mag", "scale", "direction", "angle")

#: Head classes by config ``kind``.
HEADS: dict[str, type[nn.Module]] = {
    "dense": DenseHead,
    "orientation": OrientationHead,
    "dense_orientation": DenseOrientationHead,
    "lean_orientation": LeanOrientationHead,
    "scale": ScaleHead,
    "global_scale": GlobalScaleHead,
}
#: Decoder classes by config ``kind``.
DECODERS: dict[str, Any] = {"unet": UNetDecoder, "fpn": FPNDecoder}


def _check_head_order(heads: tuple[HeadConfig, ...]) -> None:
    seen: set[str] = set()
    for head in heads:
        cls: Any = HEADS[head.kind]
        requires = cls.requires_for(head) if hasattr(cls, "requires_for") else cls.requires
        missing = [k for k in requires if k not in seen]
        if missing:
            raise UsageError(
                f"model spec: head {head.kind!r} needs {', '.join(missing)} from an earlier head"
            )
        provides = cls.provides_for(head) if hasattr(cls, "provides_for") else cls.provides
        twice = [k for k in provides if k in seen]
        if twice:
            raise UsageError(f"model spec: outputs {', '.join(twice)} provided twice")
        seen.update(provides)
    absent = [k for k in OUTPUT_KEYS if k not in seen]
    if absent:
        raise UsageError(f"model spec: no head provides {', '.join(absent)}")


class GeoposeModel(nn.Module):
    """Input adapter, encoder, decoder and heads built from a :class:`ModelSpec`.

    ``pretrained``: ``True`` for timm's pretrained encoder weights (needs a network
    connection or timm's cache), or a path to a local encoder weights file.
    ``self.spec`` is the resolved spec (the input mean/std as numbers), which rebuilds
    this very network without consulting the preset registry or timm's pretrained
    configs; it is what a checkpoint stores.
    """

    def __init__(self, spec: ModelSpec, pretrained: bool | str | Path = False) -> None:
        super().__init__()
        if len({h.kind for h in spec.heads}) != len(spec.heads):
            raise UsageError("model spec: each head kind may appear once")
        _check_head_order(spec.heads)
        self.encoder = TimmEncoder(spec.encoder, pretrained)
        convention = spec.input
        if not convention.is_resolved:
            mean, std = self.encoder.default_normalisation()
            if convention.value_range != 1.0:
                mean = tuple(v * convention.value_range for v in mean)
                std = tuple(v * convention.value_range for v in std)
            convention = dataclasses.replace(convention, mean=mean, std=std)
        self.spec = dataclasses.replace(spec, input=convention)
        self.input = InputAdapter(convention)
        self.decoder = DECODERS[spec.decoder.kind](
            self.encoder.channels, self.encoder.strides, spec.decoder
        )
        self.feature_spec = FeatureSpec(
            encoder_channels=tuple(self.encoder.channels),
            encoder_strides=tuple(self.encoder.strides),
            decoder_channels=self.decoder.out_channels,
            decoder_stride=self.decoder.out_stride,
        )
        self.heads = nn.ModuleDict(
            {h.kind: HEADS[h.kind](h, self.feature_spec) for h in spec.heads}
        )

    @property
    def input_multiple(self) -> int:
        """Side lengths (px, at the input's resolution) that run without padding inside:
        the encoder's deepest stride divided by the resolution factor, rounded up."""
        return math.ceil(max(self.encoder.strides) / self.spec.input.resolution_factor)

    def forward(self, image: Tensor, gsd: Tensor) -> dict[str, Tensor]:
        """Predict AGL (m), magnitude (px), scale (px/m), direction and angle (rad)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be B×3×H×W, got shape {tuple(image.shape)}")
        batch = image.shape[0]
        gsd = gsd.reshape(-1)
        if gsd.shape[0] != batch:
            raise ValueError(f"gsd must hold one value per image ({batch}), got {gsd.shape[0]}")
        # Sizes stay torch's own (symbolic under torch.export: ONNX with any tile size).
        size = (image.shape[-2], image.shape[-1])
        convention = self.spec.input
        x, net_gsd = to_network_resolution(image, gsd, convention)
        features = self.encoder(self.input(x))
        inputs = HeadInputs(
            image_size=(x.shape[-2], x.shape[-1]),
            features=features,
            decoded=self.decoder(features),
            gsd=net_gsd,
            outputs={},
        )
        for head in self.heads.values():
            inputs.outputs.update(head(inputs))
        outputs = to_input_resolution(inputs.outputs, size, convention)
        if self.training:  # auxiliary outputs feed loss terms; inference keeps the contract
            return dict(outputs)
        return {k: outputs[k] for k in OUTPUT_KEYS}
