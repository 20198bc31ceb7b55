"""Predicted versus true image-level labels: angle (degrees) and scale (px/m)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from geopose.conventions import angle_difference
from geopose.viz.figure import new_figure


@dataclass(frozen=True)
class LabelPair:
    """One image's true and predicted angle (radians) and scale (pixels per metre)."""

    id: str
    city: str
    angle_true: float
    angle_pred: float
    scale_true: float
    scale_pred: float


def unwrap_near(pred_deg: float, true_deg: float) -> float:
    """``pred_deg`` shifted by a multiple of 360° to lie within 180° of ``true_deg``.

    So that a prediction of 359° for a truth of 1° plots next to the diagonal, at −1°.
    """
    return true_deg + (((pred_deg - true_deg) + 180.0) % 360.0) - 180.0


def scatter_figure(pairs: Sequence[LabelPair]) -> Figure:
    """Two panels, one colour per city: predicted vs true angle (degrees, predictions
    unwrapped to within 180° of the truth) and predicted vs true scale (px/m)."""
    fig = new_figure(10.0, 4.4)
    ax_a, ax_s = fig.subplots(1, 2)
    for city in sorted({p.city for p in pairs}):
        mine = [p for p in pairs if p.city == city]
        true_deg = [math.degrees(p.angle_true) for p in mine]
        pred_deg = [
            unwrap_near(math.degrees(p.angle_pred), t) for p, t in zip(mine, true_deg, strict=True)
        ]
        err = np.degrees(
            angle_difference([p.angle_pred for p in mine], [p.angle_true for p in mine])
        )
        ax_a.scatter(true_deg, pred_deg, s=14, label=f"{city} (mean err {np.mean(err):.1f}°)")
        ax_s.scatter([p.scale_true for p in mine], [p.scale_pred for p in mine], s=14, label=city)
    ax_a.plot([0, 360], [0, 360], color="grey", linewidth=0.8)
    ax_a.set_xlim(0, 360)
    ax_a.set_xticks(range(0, 361, 90))
    ax_a.set_xlabel("true angle (°)")
    ax_a.set_ylabel("predicted angle (°, unwrapped)")
    ax_a.set_title("vertical-flow angle")
    scales = [v for p in pairs for v in (p.scale_true, p.scale_pred) if math.isfinite(v)]
    hi = max(scales, default=1.0) * 1.05
    ax_s.plot([0, hi], [0, hi], color="grey", linewidth=0.8)
    ax_s.set_xlim(0, hi)
    ax_s.set_ylim(0, hi)
    ax_s.set_xlabel("true scale (px/m)")
    ax_s.set_ylabel("predicted scale (px/m)")
    ax_s.set_title("vertical-flow scale")
    for ax in (ax_a, ax_s):
        ax.grid(True, alpha=0.3)
        if pairs:
            ax.legend(fontsize=8)
    return fig
