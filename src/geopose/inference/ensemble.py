"""Ensembles of several models (folds, top-k checkpoints), possibly of different architectures.

Each member is usually a :class:`geopose.inference.tta.TTAModel`. Outputs are combined with
per-member weights ``w`` (normalised to sum 1):

- ``agl`` (m), ``mag`` (px) and ``scale`` (px/m): weighted means;
- ``direction``: weighted mean of the members' unit vectors, normalised; ``angle`` from it;
- ``direction_agreement`` (in [0, 1]): the length of the weighted mean of each member's
  unit direction times its own agreement (1 for a bare model): the agreement of all
  views of all members;
- ``agl_var`` (m²): the variance of AGL over all views of all members, as a weighted
  mixture: ``Σ w·(var_m + (agl_m − agl)²)`` (a bare model's own variance is 0);
- ``scale_den`` (m², Σ agl²): weighted mean, and ``scale_num = scale · scale_den``, so
  that sliding windows pooling ``Σ num / Σ den`` weight each window's (ensemble) scale
  by its height evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from geopose.errors import UsageError
from geopose.models.direction import direction_to_angle, unit_direction
from geopose.models.head_scale import scale_sums


class EnsembleModel(nn.Module):
    """Run every member on the same input and combine their outputs (see module text).

    Args:
        members: models with the DESIGN.md §4 contract (TTA wrappers or bare models).
        weights: one positive weight per member (default: equal).
    """

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float] | None = None):
        super().__init__()
        if not members:
            raise UsageError("ensemble: at least one model is needed")
        w = [1.0] * len(members) if weights is None else [float(x) for x in weights]
        if len(w) != len(members):
            raise UsageError(f"ensemble: {len(members)} models but {len(w)} weights")
        if any(not (x > 0) for x in w):
            raise UsageError(f"ensemble: weights must be positive, got {w}")
        total = sum(w)
        self.members = nn.ModuleList(members)
        self.weights = [x / total for x in w]

    def forward(self, image: Tensor, gsd: Tensor) -> dict[str, Tensor]:
        """``image`` B×3×H×W RGB in [0, 1], ``gsd`` B (m/px) → combined outputs."""
        acc: dict[str, Tensor] = {}
        spreads: list[tuple[float, Tensor, Tensor | None]] = []
        for weight, member in zip(self.weights, self.members, strict=True):
            out = member(image, gsd)
            den = out.get("scale_den")
            if den is None:
                den = scale_sums(out["agl"], out["mag"])[1]
            var = out.get("agl_var")
            spreads.append((weight, out["agl"].float(), None if var is None else var.float()))
            parts = {
                "agl": out["agl"].float(),
                "mag": out["mag"].float(),
                "scale": out["scale"].float(),
                "direction": unit_direction(out["direction"]),
                "scale_den": den.float(),
            }
            agreement = out.get("direction_agreement")
            if agreement is None:
                agreement = parts["scale"].new_ones(parts["scale"].shape)
            parts["agreement_vector"] = agreement.float()[:, None] * parts["direction"]
            for key, value in parts.items():
                acc[key] = acc[key] + weight * value if key in acc else weight * value
        unit = unit_direction(acc["direction"])
        agl_var = torch.zeros_like(acc["agl"])
        for weight, member_agl, member_var in spreads:
            gap = member_agl - acc["agl"]
            agl_var = agl_var + weight * (
                gap * gap if member_var is None else member_var + gap * gap
            )
        return {
            "agl": acc["agl"],
            "agl_var": agl_var,
            "mag": acc["mag"],
            "scale": acc["scale"],
            "direction": unit,
            "angle": direction_to_angle(unit),
            "direction_agreement": torch.linalg.vector_norm(acc["agreement_vector"], dim=1),
            "scale_num": acc["scale"] * acc["scale_den"],
            "scale_den": acc["scale_den"],
        }
