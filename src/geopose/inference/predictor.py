"""The prediction engine: checkpoints → TTA-wrapped (ensemble) model → tiles and windows.

:class:`Predictor` runs uint8 RGB tiles through the model on one device at one
precision and returns numpy results; :meth:`Predictor.predict_windows` covers a raster
of any size with sliding windows (one window when it fits) read on demand and hands
the blended AGL to a sink row block by row block, so neither the input nor the output
raster has to fit in memory.

**Flow shrinkage** (``shrink_flow=True``, off by default): the written scale is the
least-squares scale times the TTA views' direction agreement ``R`` in [0, 1] (the
length of the mean of their unit directions). Under the official metric, an uncertain
direction is costly: a flow pointing the wrong way scores worse than no flow at all,
and when the direction is only known to within a spread whose mean resultant length is
``R``, the flow with the least expected squared error is ``R`` times the confident one.
The scale written is then no longer the physical lean of the image; use it for scoring,
not for rectifying.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from geopose.conventions import direction_to_angle
from geopose.inference.ensemble import EnsembleModel
from geopose.inference.load_model import load_model
from geopose.inference.tta import TTAModel, scale_head_limits
from geopose.inference.windows import StripBlender, Window, WindowGrid
from geopose.models.head_scale import scale_from_sums
from geopose.precision import autocast, resolve_precision

#: Reads a window ``(top, left, height, width)`` of the input raster as H×W×3 uint8.
WindowReader = Callable[[Window], NDArray[np.uint8]]
#: Placeholder AGL of the per-window records kept by :meth:`Predictor.predict_windows`.
_NO_AGL = np.empty((0, 0), dtype=np.float32)
#: Receives final AGL rows: ``(top row, block of rows × W float32 metres)``.
RowSink = Callable[[int, NDArray[np.float32]], None]


@dataclass(frozen=True)
class TileResult:
    """One tile's prediction: AGL H×W float32 metres, scale px/m (times ``agreement``
    when the predictor shrinks flows), angle rad, the least-squares sums (``num`` px·m,
    ``den`` m²) behind the unshrunk scale, and the TTA views' direction agreement."""

    agl: NDArray[np.float32]
    scale: float
    angle: float
    direction: tuple[float, float]
    num: float
    den: float
    agreement: float = 1.0
    spread: NDArray[np.float32] | None = None  # m, AGL spread across views and members


@dataclass
class RasterResult:
    """A raster's image-level results and its per-window ones (``windows``: dicts with
    ``top``, ``left``, ``height``, ``width``, ``scale`` px/m, ``angle`` rad)."""

    height: int
    width: int
    scale: float
    angle: float
    agreement: float = 1.0
    windows: list[dict[str, float]] = field(default_factory=list)


def build_model(
    checkpoints: Sequence[str | Path],
    *,
    tta: str = "d4",
    weights: Sequence[float] | None = None,
    device: torch.device | str = "cpu",
    max_batch: int | None = None,
    convert: Callable[[nn.Module], nn.Module] | None = None,
) -> nn.Module:
    """TTA-wrapped model of one checkpoint, or the ensemble of several (in eval mode).
    ``convert`` (optional) turns each loaded network into the one that runs (a backend)."""
    nets: list[nn.Module] = [load_model(path, device) for path in checkpoints]
    if convert is not None:
        nets = [convert(net) for net in nets]
    members = [TTAModel(net, tta, max_batch=max_batch) for net in nets]
    if len(members) == 1 and weights is None:
        return members[0].eval()
    return EnsembleModel(members, weights).eval()


def to_tensor(images: NDArray[np.uint8], device: torch.device) -> torch.Tensor:
    """N×H×W×3 uint8 RGB → N×3×H×W float32 in [0, 1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


class Predictor:
    """Run a (TTA / ensemble) model on uint8 tiles.

    Args:
        model: outputs ``agl``, ``scale``, ``direction``, ``scale_num``, ``scale_den``
            (what :class:`TTAModel` and :class:`EnsembleModel` return).
        device: where the model runs.
        precision: ``fp32``, ``bf16``, ``fp16`` (CUDA only) or ``auto``.
        batch_size: tiles (or windows) per forward pass; each brings all its TTA views.
        window, overlap: sliding-window size and overlap in pixels for large rasters.
        shrink_flow: multiply the scale by the direction agreement (module text).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        batch_size: int = 1,
        window: int = 2048,
        overlap: int = 256,
        shrink_flow: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = max(1, int(batch_size))
        self.window = window
        self.overlap = overlap
        self.shrink_flow = bool(shrink_flow)
        self.min_den, self.fallback = _limits(model)

    def predict_tiles(self, images: NDArray[np.uint8], gsd: Sequence[float]) -> list[TileResult]:
        """Predict N same-sized tiles (N×H×W×3 uint8 RGB, GSD m/px each), in batches."""
        results: list[TileResult] = []
        for i in range(0, len(images), self.batch_size):
            chunk = images[i : i + self.batch_size]
            results += self._run(chunk, list(gsd[i : i + self.batch_size]))
        return results

    def _run(self, images: NDArray[np.uint8], gsd: list[float]) -> list[TileResult]:
        x = to_tensor(images, self.device)
        g = torch.tensor(gsd, dtype=torch.float32, device=self.device)
        with torch.inference_mode(), autocast(self.precision, self.device):
            out = self.model(x, g)
        agl = out["agl"].float().cpu().numpy()[:, 0]
        scale = out["scale"].float().cpu().numpy()
        direction = out["direction"].float().cpu().numpy()
        num = out["scale_num"].float().cpu().numpy()
        den = out["scale_den"].float().cpu().numpy()
        agreement = out.get("direction_agreement")
        agree = np.ones(len(images)) if agreement is None else agreement.float().cpu().numpy()
        var = out.get("agl_var")
        spread = None if var is None else agl_spread(var.float().cpu().numpy()[:, 0])
        return [
            TileResult(
                agl=np.ascontiguousarray(agl[b], dtype=np.float32),
                scale=self._shrunk(float(scale[b]), float(agree[b])),
                angle=float(direction_to_angle(float(direction[b, 0]), float(direction[b, 1]))),
                direction=(float(direction[b, 0]), float(direction[b, 1])),
                num=float(num[b]),
                den=float(den[b]),
                agreement=float(agree[b]),
                spread=None if spread is None else np.ascontiguousarray(spread[b]),
            )
            for b in range(len(images))
        ]

    def _shrunk(self, scale: float, agreement: float) -> float:
        """The scale to write: shrunk by the direction agreement when asked."""
        return scale * min(max(agreement, 0.0), 1.0) if self.shrink_flow else scale

    def predict_windows(
        self,
        height: int,
        width: int,
        gsd: float,
        read: WindowReader,
        sink: RowSink,
        on_window: Callable[[int], None] | None = None,
        spread_sink: RowSink | None = None,
    ) -> RasterResult:
        """Predict an H×W raster window by window (see module text).

        ``read`` gives each window's pixels, ``sink`` receives the final AGL rows in
        order, ``on_window(n)`` is told after every batch of ``n`` windows (progress),
        ``spread_sink`` (optional) the AGL spread rows (m), blended the same way.
        Scale pools the windows' least-squares sums; the direction is the mean of the
        windows' unit directions weighted by their Σ agl² (equal weights on flat
        rasters); both are also reported per window.
        """
        grid = WindowGrid(height, width, self.window, self.overlap)
        blender = StripBlender(grid)
        spreads = StripBlender(grid) if spread_sink is not None else None
        per_window: list[tuple[Window, TileResult]] = []
        for top in grid.rows:
            row = grid.row(top)
            for i in range(0, len(row), self.batch_size):
                part = row[i : i + self.batch_size]
                pixels = np.stack([read(w) for w in part])
                for w, res in zip(part, self._run(pixels, [gsd] * len(part)), strict=True):
                    blender.add(w, res.agl)
                    if spreads is not None:
                        if res.spread is None:
                            raise ValueError("the model gives no AGL spread (agl_var)")
                        spreads.add(w, res.spread)
                    # Keep the window's figures, not its AGL: the blender holds the only
                    # copy, so memory stays one window row whatever the raster's size.
                    per_window.append((w, replace(res, agl=_NO_AGL, spread=None)))
                if on_window is not None:
                    on_window(len(part))
            for block_top, block in blender.finish_row():
                sink(block_top, block)
            if spreads is not None and spread_sink is not None:
                for block_top, block in spreads.finish_row():
                    spread_sink(block_top, block)
        return self._combine(height, width, per_window)

    def _combine(
        self, height: int, width: int, per_window: list[tuple[Window, TileResult]]
    ) -> RasterResult:
        num = sum(r.num for _, r in per_window)
        den = sum(r.den for _, r in per_window)
        scale = float(
            scale_from_sums(
                torch.tensor([num]),
                torch.tensor([den]),
                min_den=self.min_den,
                fallback=self.fallback,
            )[0]
        )
        weights = np.array([r.den for _, r in per_window], dtype=np.float64)
        if not weights.sum() > 0:
            weights = np.ones_like(weights)
        vec = np.array([r.direction for _, r in per_window], dtype=np.float64)
        dx, dy = (weights[:, None] * vec).sum(axis=0)
        # The raster's agreement: the same weighted mean, of each window's direction
        # lengthened to its own agreement.
        agree = np.array([r.agreement for _, r in per_window], dtype=np.float64)
        agreement = float(np.hypot(*(weights[:, None] * agree[:, None] * vec).sum(axis=0)))
        agreement /= float(weights.sum())
        scale = self._shrunk(scale, agreement)
        if len(per_window) == 1:
            scale = per_window[0][1].scale  # one window: exactly its own result
        return RasterResult(
            height=height,
            width=width,
            scale=scale,
            angle=float(direction_to_angle(float(dx), float(dy))),
            agreement=agreement,
            windows=[
                {
                    "top": w.top,
                    "left": w.left,
                    "height": w.height,
                    "width": w.width,
                    "scale": r.scale,
                    "angle": r.angle,
                }
                for w, r in per_window
            ],
        )


def agl_spread(variance: NDArray[np.floating]) -> NDArray[np.float32]:
    """Standard deviation (m) of AGL over views and members from its variance (m²)."""
    return np.sqrt(np.maximum(np.asarray(variance, dtype=np.float32), 0.0)).astype(np.float32)


def angle_spread_deg(agreement: float) -> float:
    """Circular standard deviation (degrees) of directions whose mean resultant length is
    ``agreement`` (the TTA views' and members' direction agreement): √(−2 ln R)."""
    r = min(max(float(agreement), 1e-12), 1.0)
    return math.degrees(math.sqrt(-2.0 * math.log(r)))


def _limits(model: nn.Module) -> tuple[float, float]:
    """Scale-head limits of the wrapped model (first member of an ensemble)."""
    inner: nn.Module = model
    if isinstance(inner, EnsembleModel):
        inner = inner.members[0]
    if isinstance(inner, TTAModel):
        return inner.min_den, inner.fallback
    return scale_head_limits(inner)
