"""Global scale head: the lean per metre of height, read from the whole image.

Why not least squares over predicted AGL and magnitude maps (:mod:`head_scale`)? With
the two maps from two branches of the same features, the easiest fit is a magnitude
that copies the AGL times a typical scale, so the fitted ratio barely moves from image
to image (a flat band of predicted scales; geopose's demo before this head). The scale
is one number per image and does not change under rotations or flips, so a pooled
regressor has nothing to be equivariant to — unlike the flow direction.

The head predicts ``cot(satellite elevation)`` (m of lean per m of height, 0.07–0.73 at
elevations 54–86°) and divides by the GSD (m/px) it is given: ``scale = cot / gsd``
(px/m, DESIGN.md §1). The magnitude map is ``agl · scale`` with the AGL detached: a
magnitude loss then trains the scale, each pixel weighted by its height, as the
official VFLOW R² weighs scale errors, and leaves the heights to the AGL loss.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from geopose.models.blocks import make_activation
from geopose.models.config import GlobalScaleHeadConfig
from geopose.models.head_api import FeatureSpec, HeadInputs
from geopose.models.head_dense_orientation import attention_pool


class GlobalScaleHead(nn.Module):
    """``scale`` B (px/m) from pooled features and the GSD; ``mag`` = agl · scale (px)."""

    requires = ("agl",)
    provides = ("scale", "mag")

    @staticmethod
    def requires_for(config: GlobalScaleHeadConfig) -> tuple[str, ...]:
        """The map it reads: ``agl`` (derives ``mag``) or ``mag`` (derives ``agl``)."""
        return ("mag",) if config.derive == "agl" else ("agl",)

    @staticmethod
    def provides_for(config: GlobalScaleHeadConfig) -> tuple[str, ...]:
        """``scale``, the map it derives and, pooled by attention, the per-pixel
        ``log_scale_map`` (training mode only)."""
        extra = ("log_scale_map",) if config.pool == "attention" else ()
        return ("scale", config.derive, *extra)

    def __init__(self, config: GlobalScaleHeadConfig, spec: FeatureSpec) -> None:
        super().__init__()
        self.derive = config.derive
        self.map_trains_scale = config.map_trains_scale
        self.log_init_cot = math.log(config.init_cot)
        self.local: nn.Sequential | None = None
        self.mlp: nn.Sequential | None = None
        if config.pool == "attention":
            last_conv = nn.Conv2d(config.hidden[0], 2, 1)
            self.local = nn.Sequential(
                nn.Conv2d(spec.decoder_channels, config.hidden[0], 3, padding=1),
                make_activation(config.activation),
                nn.Dropout2d(config.dropout),
                last_conv,
            )
            # Zero estimates and uniform weights: every image begins at init_cot / GSD.
            nn.init.zeros_(last_conv.weight)
            nn.init.zeros_(last_conv.bias)  # type: ignore[arg-type]
            return
        width = 2 * spec.encoder_channels[-1] + spec.decoder_channels
        layers: list[nn.Module] = []
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), make_activation(config.activation)]
            width = hidden
        last = nn.Linear(width, 1)
        self.mlp = nn.Sequential(*layers, nn.Dropout(config.dropout), last)
        nn.init.zeros_(last.weight)
        # softplus(b) = init_cot at the start: every image begins at a typical lean.
        with torch.no_grad():
            last.bias.fill_(math.log(math.expm1(config.init_cot)))

    def _scale(self, inputs: HeadInputs) -> tuple[Tensor, Tensor | None]:
        """B scale (px/m) of the images and, pooled by attention, the B×1×h×w per-pixel
        estimates of its log (ln px/m, at the decoder's stride)."""
        gsd = inputs.gsd.float().clamp_min(1e-3)
        if self.local is not None:
            local = self.local(inputs.decoded).float()
            # Estimates are in log px/m around the prior: local evidence (a facade's
            # storeys) measures px per metre directly, whatever the GSD.
            prior = (self.log_init_cot - torch.log(gsd))[:, None, None, None]
            estimates = local[:, :1] + prior
            log_scale = attention_pool(estimates, local[:, 1:]).squeeze(1)
            return torch.exp(log_scale), estimates
        assert self.mlp is not None  # one of the two is built
        deep = inputs.features[-1].float()
        pooled = torch.cat(
            [deep.mean(dim=(2, 3)), deep.amax(dim=(2, 3)), inputs.decoded.float().mean(dim=(2, 3))],
            dim=1,
        )
        cot = F.softplus(self.mlp(pooled).squeeze(1).float())
        return cot / gsd, None

    def forward(self, inputs: HeadInputs) -> dict[str, Tensor]:
        scale, estimates = self._scale(inputs)
        extra: dict[str, Tensor] = {}
        if estimates is not None and self.training:  # for the scale_dense loss term
            extra["log_scale_map"] = F.interpolate(
                estimates, size=inputs.image_size, mode="bilinear", align_corners=False
            )
        per_image = scale[:, None, None, None]
        if not self.map_trains_scale:
            per_image = per_image.detach()
        if self.derive == "agl":
            # The lean (px) is what the image shows; metres need the scale. The floor
            # keeps an untrained head's near-zero scale from blowing heights up.
            mag = inputs.outputs["mag"]
            agl = mag.detach().float() / per_image.clamp_min(1e-3)
            return {"scale": scale, "agl": agl.to(mag.dtype), **extra}
        agl = inputs.outputs["agl"]
        mag = agl.detach().float() * per_image
        return {"scale": scale, "mag": mag.to(agl.dtype), **extra}
