"""AGL error by true-height bin: a streaming accumulator and its figure.

Pixels count where both the true and the predicted AGL are valid. Per bin of true
height (metres, edges :data:`DEFAULT_EDGES_M`, the last bin open-ended) it keeps the
pixel count and the float64 sums of the error ``pred − true``, of its absolute value
and of its square, giving the bias, mean absolute error and RMSE (metres).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from geopose.viz.figure import new_figure

#: Lower edges of the height bins in metres; the last bin holds everything above.
DEFAULT_EDGES_M: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


class HeightBinErrors:
    """Streaming AGL error statistics per bin of true height (metres)."""

    def __init__(self, edges_m: Sequence[float] = DEFAULT_EDGES_M) -> None:
        edges = np.asarray(edges_m, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 1 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"bin edges must be increasing, got {list(edges_m)}")
        self.edges = edges
        k = edges.size
        self.count = np.zeros(k, dtype=np.int64)
        self.err_sum = np.zeros(k)
        self.abs_sum = np.zeros(k)
        self.sq_sum = np.zeros(k)

    def bin_index(self, true_m: NDArray[np.float64]) -> NDArray[np.intp]:
        """Bin of each true height; heights below the first edge go to the first bin."""
        return np.clip(np.searchsorted(self.edges, true_m, side="right") - 1, 0, None)

    def update(self, pred_m: ArrayLike, true_m: ArrayLike) -> None:
        """Add one image: predicted and true AGL maps (metres, NaN = no data)."""
        p = np.asarray(pred_m, dtype=np.float64)
        t = np.asarray(true_m, dtype=np.float64)
        if p.shape != t.shape:
            raise ValueError(f"prediction shape {p.shape} != truth shape {t.shape}")
        ok = np.isfinite(p) & np.isfinite(t)
        err, idx = p[ok] - t[ok], self.bin_index(t[ok])
        k = self.edges.size
        self.count += np.bincount(idx, minlength=k)
        self.err_sum += np.bincount(idx, weights=err, minlength=k)
        self.abs_sum += np.bincount(idx, weights=np.abs(err), minlength=k)
        self.sq_sum += np.bincount(idx, weights=err * err, minlength=k)

    def labels(self) -> list[str]:
        """Bin names such as ``"2–5"`` and ``"≥50"`` (metres)."""
        e = [f"{x:g}" for x in self.edges]
        return [f"{a}–{b}" for a, b in itertools.pairwise(e)] + [f"≥{e[-1]}"]

    def _per_bin(self, sums: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, sums / np.maximum(self.count, 1), np.nan)

    def bias(self) -> NDArray[np.float64]:
        """Mean of ``pred − true`` per bin (metres; NaN for an empty bin)."""
        return self._per_bin(self.err_sum)

    def mae(self) -> NDArray[np.float64]:
        """Mean absolute error per bin (metres; NaN for an empty bin)."""
        return self._per_bin(self.abs_sum)

    def rmse(self) -> NDArray[np.float64]:
        """Root mean squared error per bin (metres; NaN for an empty bin)."""
        return np.sqrt(self._per_bin(self.sq_sum))

    def figure(self) -> Figure:
        """Bars of RMSE and MAE with the bias as a line; pixel counts under the bin names."""
        fig = new_figure(7.0, 3.8)
        ax = fig.subplots()
        x = np.arange(self.edges.size)
        ax.bar(x - 0.2, np.nan_to_num(self.rmse()), width=0.4, label="RMSE")
        ax.bar(x + 0.2, np.nan_to_num(self.mae()), width=0.4, label="mean |error|")
        ax.plot(x, self.bias(), "k.-", label="bias (pred − true)")
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ticks = [f"{b}\n{n:,} px" for b, n in zip(self.labels(), self.count.tolist(), strict=True)]
        ax.set_xticks(x, ticks, fontsize=8)
        ax.set_xlabel("true AGL bin (m) and pixel count")
        ax.set_ylabel("AGL error (m)")
        ax.set_title("AGL error by true height")
        ax.legend(fontsize=8, loc="best")
        ax.grid(True, axis="y", alpha=0.3)
        return fig
