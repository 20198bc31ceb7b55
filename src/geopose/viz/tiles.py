"""One tile's panel: RGB, true and predicted AGL, error map, flow arrows, rectified image.

Maps are shown at most :data:`DISPLAY_PX` pixels wide (every n-th pixel), which keeps
the report small; arrows are computed at full resolution with
:func:`geopose.conventions.flow_field` and drawn in image pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from geopose.conventions import flow_field
from geopose.viz.figure import new_figure

#: Longest side (pixels) of a map as drawn in the report.
DISPLAY_PX = 384
#: Arrows along the longer image side.
ARROWS_PER_SIDE = 14


@dataclass(frozen=True)
class TileData:
    """What one tile's panel shows.

    ``image`` is uint8 H×W×3 RGB (None when no RGB was found); AGL maps are H×W
    float32 metres (NaN = no data); scales in px/m, angles in radians; ``rectified``
    is the ground-level image from the predicted flow (None when not available).
    """

    id: str
    city: str
    image: NDArray[np.uint8] | None
    agl_true: NDArray[np.float32]
    agl_pred: NDArray[np.float32]
    scale_true: float
    angle_true: float
    scale_pred: float
    angle_pred: float
    rectified: NDArray[np.uint8] | None = None


@dataclass(frozen=True)
class Arrows:
    """Arrow tails (x = column, y = row, pixels) and vectors (dx, dy, pixels) on a grid."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    dx: NDArray[np.float64]
    dy: NDArray[np.float64]


def display_step(shape: tuple[int, ...]) -> int:
    """Pixel stride that brings the longer side of ``shape`` down to ≤ :data:`DISPLAY_PX`."""
    return max(1, math.ceil(max(shape[:2]) / DISPLAY_PX))


def grid_arrows(agl: NDArray[np.floating], scale: float, angle: float, spacing: int) -> Arrows:
    """Flow vectors ``v = agl·scale·d`` sampled every ``spacing`` pixels (cell centres).

    Grid points where the AGL is no data or the flow is shorter than 0.25 px are left
    out (a ground pixel does not move).
    """
    field = flow_field(agl, scale, angle)
    h, w = field.shape[:2]
    start = spacing // 2
    rows, cols = np.mgrid[start:h:spacing, start:w:spacing]
    v = field[rows, cols].astype(np.float64)
    keep = np.isfinite(v).all(axis=-1) & (np.hypot(v[..., 0], v[..., 1]) >= 0.25)
    return Arrows(
        cols[keep].astype(np.float64),
        rows[keep].astype(np.float64),
        v[..., 0][keep],
        v[..., 1][keep],
    )


def arrow_gain(arrows: list[Arrows], spacing: int) -> float:
    """Factor that makes the 95th-percentile arrow about one grid cell long (≥ 1)."""
    lengths = np.concatenate([np.hypot(a.dx, a.dy) for a in arrows] or [np.zeros(0)])
    if lengths.size == 0:
        return 1.0
    p95 = float(np.percentile(lengths, 95))
    return max(1.0, round(0.9 * spacing / p95, 1)) if p95 > 0 else 1.0


def _show(ax: Any, data: NDArray[Any], step: int, title: str, **kwargs: Any) -> Any:
    h, w = data.shape[:2]
    im = ax.imshow(data[::step, ::step], extent=(0, w, h, 0), interpolation="nearest", **kwargs)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def _cmap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#d0d0d0")


def _draw_arrows(
    ax: Any, arrows: Arrows, gain: float, color: str, label: str, width: float
) -> None:
    ax.quiver(
        arrows.x,
        arrows.y,
        arrows.dx * gain,
        arrows.dy * gain,
        color=color,
        angles="xy",
        scale_units="xy",
        scale=1.0,
        width=width,
        label=label,
    )


def tile_figure(tile: TileData) -> Figure:
    """2×3 panels of one tile (see the module text)."""
    fig = new_figure(10.0, 7.0)
    axes = fig.subplots(2, 3).ravel()
    truth, pred = tile.agl_true, tile.agl_pred
    step = display_step(truth.shape)
    finite = truth[np.isfinite(truth)]
    vmax = max(1.0, float(np.percentile(finite, 99))) if finite.size else 1.0
    base = tile.image if tile.image is not None else pred
    if tile.image is not None:
        _show(axes[0], tile.image, step, "RGB")
    else:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no RGB found", ha="center", va="center")
    agl_kw = {"cmap": _cmap("viridis"), "vmin": 0.0, "vmax": vmax}
    _show(axes[1], truth, step, "true AGL (m)", **agl_kw)
    im = _show(axes[2], pred, step, "predicted AGL (m)", **agl_kw)
    fig.colorbar(im, ax=axes[1:3].tolist(), shrink=0.8, label="AGL (m)")
    err = pred.astype(np.float64) - truth
    abs_err = np.abs(err[np.isfinite(err)])
    lim = max(0.5, float(np.percentile(abs_err, 99))) if abs_err.size else 1.0
    im = _show(
        axes[3], err, step, "error: predicted − true (m)", cmap=_cmap("RdBu_r"), vmin=-lim, vmax=lim
    )
    fig.colorbar(im, ax=axes[3], shrink=0.8)
    spacing = max(4, math.ceil(max(truth.shape) / ARROWS_PER_SIDE))
    true_arrows = grid_arrows(truth, tile.scale_true, tile.angle_true, spacing)
    pred_arrows = grid_arrows(pred, tile.scale_pred, tile.angle_pred, spacing)
    gain = arrow_gain([true_arrows, pred_arrows], spacing)
    _show(axes[4], base, step, f"vertical flow (arrows ×{gain:g})", cmap="gray")
    _draw_arrows(axes[4], true_arrows, gain, "#00e5ff", "true", 0.011)
    _draw_arrows(axes[4], pred_arrows, gain, "#ff3030", "predicted", 0.005)
    axes[4].legend(fontsize=7, loc="lower right")
    if tile.rectified is not None:
        _show(axes[5], tile.rectified, step, "ground-level rectified (predicted flow)")
    else:
        axes[5].set_axis_off()
        axes[5].text(0.5, 0.5, "rectification not available", ha="center", va="center")
    fig.suptitle(
        f"{tile.id}   angle true {math.degrees(tile.angle_true):.1f}° / "
        f"pred {math.degrees(tile.angle_pred):.1f}°   scale true {tile.scale_true:.3f} / "
        f"pred {tile.scale_pred:.3f} px/m",
        fontsize=10,
    )
    return fig
