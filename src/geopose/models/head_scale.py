"""Least-squares vertical-flow scale from predicted AGL and magnitude maps.

The scale ``s`` (px/m) links the two maps: ``mag ≈ s · agl``. Per image, the least-
squares fit over pixels is ``s = Σ mag·agl / Σ agl²``. Where several views or windows
of one image are combined (TTA, sliding windows), pool their sums first
(:func:`scale_sums` per view, add, then :func:`scale_from_sums`) rather than averaging
their ratios. Sums are taken in float32 with autocast disabled, so bf16/fp16 runs give
the same scale. A tile with almost no height (Σ agl² below ``min_den``) gets
``fallback`` instead of a noisy or NaN ratio.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from geopose.models.config import ScaleHeadConfig
from geopose.models.head_api import FeatureSpec, HeadInputs
from geopose.precision import no_autocast

#: Default threshold on Σ agl² (m²·px) below which a tile counts as flat.
DEFAULT_MIN_DEN = 1e-2


def scale_sums(agl: Tensor, mag: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-image ``(Σ mag·agl, Σ agl²)`` in float32 over (optionally only ``valid``) pixels.

    ``agl`` (m) and ``mag`` (px) are B×1×H×W (or B×H×W); ``valid`` is a boolean mask of
    the same shape. Returns two tensors of shape B: px·m and m².
    """
    with no_autocast(agl.device.type):
        a = agl.float().flatten(1)
        m = mag.float().flatten(1)
        if valid is not None:
            keep = valid.flatten(1)
            a = torch.where(keep, a, torch.zeros_like(a))
            m = torch.where(keep, m, torch.zeros_like(m))
        return (m * a).sum(dim=1), (a * a).sum(dim=1)


def scale_from_sums(
    num: Tensor, den: Tensor, *, min_den: float = DEFAULT_MIN_DEN, fallback: float = 0.0
) -> Tensor:
    """Scale (px/m) ``num / den`` per image; ``fallback`` where ``den < min_den``.

    Never NaN or infinite for finite inputs, and its gradient stays finite too.
    """
    num = num.float()
    den = den.float()
    flat = den < min_den
    ratio = num / torch.where(flat, torch.ones_like(den), den)
    return torch.where(flat, torch.full_like(ratio, fallback), ratio)


def least_squares_scale(
    agl: Tensor,
    mag: Tensor,
    valid: Tensor | None = None,
    *,
    min_den: float = DEFAULT_MIN_DEN,
    fallback: float = 0.0,
) -> Tensor:
    """Per-image least-squares scale (px/m) of ``mag ≈ s · agl``; shape B, float32."""
    num, den = scale_sums(agl, mag, valid)
    return scale_from_sums(num, den, min_den=min_den, fallback=fallback)


class ScaleHead(nn.Module):
    """Parameter-free head: ``scale`` (B, px/m) from the ``agl`` and ``mag`` outputs."""

    requires = ("agl", "mag")
    provides = ("scale",)

    def __init__(self, config: ScaleHeadConfig, spec: FeatureSpec) -> None:
        super().__init__()
        self.min_den = config.min_den
        self.fallback = config.fallback

    def forward(self, inputs: HeadInputs) -> dict[str, Tensor]:
        outputs = inputs.outputs
        scale = least_squares_scale(
            outputs["agl"], outputs["mag"], min_den=self.min_den, fallback=self.fallback
        )
        return {"scale": scale}
