"""Training curves from ``metrics.jsonl`` records: loss terms, validation, learning rate.

The x axis of every curve is the optimizer step (``step``) of the record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from geopose.viz.figure import new_figure


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def loss_series(records: Sequence[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """``{term: (steps, values)}`` of every loss term (``total`` first), finite values only."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for rec in records:
        loss = rec.get("loss")
        if not isinstance(loss, dict):
            continue
        for name, value in loss.items():
            if _finite(value):
                steps, values = series.setdefault(str(name), ([], []))
                steps.append(int(rec["step"]))
                values.append(float(value))
    if "total" in series:
        series = {"total": series.pop("total"), **series}
    return series


def validation_series(
    records: Sequence[dict[str, Any]],
) -> dict[str, tuple[list[int], list[float]]]:
    """``{"all": ..., CITY: ...}`` validation scores (steps, values) over the records."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for rec in records:
        val = rec.get("val")
        if not isinstance(val, dict):
            continue
        step = int(rec["step"])
        points: list[tuple[str, Any]] = [("all", val.get("score"))]
        raw = val.get("cities")
        cities: dict[str, Any] = raw if isinstance(raw, dict) else {}
        points += [
            (str(c), v.get("score")) for c, v in sorted(cities.items()) if isinstance(v, dict)
        ]
        for name, value in points:
            if _finite(value):
                steps, values = series.setdefault(name, ([], []))
                steps.append(step)
                values.append(float(value))
    return series


def scalar_series(records: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of a top-level number such as ``lr`` or ``images_per_s``."""
    steps, values = [], []
    for rec in records:
        if _finite(rec.get(key)):
            steps.append(int(rec["step"]))
            values.append(float(rec[key]))
    return steps, values


def _plot_lines(ax: Any, series: dict[str, tuple[list[int], list[float]]], *, log: bool) -> None:
    for name, (steps, values) in series.items():
        style = {"linewidth": 2.2, "color": "black"} if name in ("total", "all") else {}
        ax.plot(steps, values, marker="o", markersize=3, label=name, **style)
    positive = all(v > 0 for _, vals in series.values() for v in vals)
    if log and positive:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("optimizer step")
    if series:
        ax.legend(fontsize=8)


#: Lowest validation score the curve panel shows: the first validations of a run often
#: score −100 or less, which would flatten every later, informative change.
SCORE_FLOOR = -1.0


def score_axis_limits(
    series: dict[str, tuple[list[int], list[float]]], floor: float = SCORE_FLOOR
) -> tuple[tuple[float, float], bool] | None:
    """Y limits for validation scores, cut at ``floor``, and whether any score was cut;
    ``None`` without scores."""
    values = [v for _, vs in series.values() for v in vs if math.isfinite(v)]
    if not values:
        return None
    low, high = max(min(values), floor), max(values)
    pad = 0.05 * (high - low) if high > low else 0.05
    return (low - pad, high + pad), min(values) < floor


def curves_figure(records: Sequence[dict[str, Any]]) -> Figure | None:
    """Three panels: loss terms (log scale when positive), validation score per city,
    learning rate. ``None`` when the records hold none of these."""
    losses = loss_series(records)
    vals = validation_series(records)
    lr = scalar_series(records, "lr")
    if not (losses or vals or lr[0]):
        return None
    fig = new_figure(13.5, 3.8)
    ax_loss, ax_val, ax_lr = fig.subplots(1, 3)
    _plot_lines(ax_loss, losses, log=True)
    ax_loss.set_title("training loss terms (epoch means)")
    _plot_lines(ax_val, vals, log=False)
    ax_val.set_title("validation score (AGL R² + VFLOW R²)/2")
    limits = score_axis_limits(vals)
    if limits is not None:
        ax_val.set_ylim(*limits[0])
        if limits[1]:
            ax_val.text(
                0.02, 0.02, f"scores below {SCORE_FLOOR:g} are off the axis", fontsize=7,
                transform=ax_val.transAxes,
            )  # fmt: skip
    if not vals:
        ax_val.text(
            0.5, 0.5, "no validation ran", ha="center", va="center", transform=ax_val.transAxes
        )
    _plot_lines(ax_lr, {"lr": lr} if lr[0] else {}, log=False)
    ax_lr.set_title("learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    return fig
