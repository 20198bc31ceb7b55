"""Digital lines along a direction: the frame in which rays and shadows are 1-D problems.

A direction with angle ``theta`` (DESIGN.md §1: ``d = (sin θ, cos θ)`` in (column, row)
pixels) is first reduced to ``phi`` in [−π/4, π/4) by an exact ``np.rot90`` of the
raster (rot90 by ``m`` turns the angle by ``+m·π/2``). In that frame ``d`` advances one
row per step and ``tan φ`` columns; row ``r`` of a line is shifted by the integer
``o(r) = rint(r·tan φ)`` columns, so every pixel belongs to exactly one digital line and
the shear and its inverse are exact integer slices (no interpolation). A digital line
stays within half a pixel of the true line through its pixels' row centres, so a ray
traced along it visits cells within one pixel (in the column of the reduced frame) of
the exact ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

ScalarT = TypeVar("ScalarT", bound=np.generic)


def reduce_angle(theta: float) -> tuple[int, float]:
    """Split ``theta`` (rad) into quarter turns ``k`` and ``phi = θ − k·π/2`` in [−π/4, π/4).

    A raster rotated by ``np.rot90(a, -k)`` has its direction at angle ``phi``.
    """
    k = math.floor((theta + math.pi / 4) / (math.pi / 2))
    phi = theta - k * (math.pi / 2)
    return k, phi


@dataclass(frozen=True)
class LineFrame:
    """Integer row shifts of the digital lines of one reduced angle over ``rows`` rows."""

    offsets: NDArray[np.int64]  # o(r), columns
    width: int  # columns of the raster

    @classmethod
    def build(cls, rows: int, width: int, phi: float) -> LineFrame:
        """Lines of direction ``phi`` (rad, in [−π/4, π/4]) over a ``rows``×``width`` raster."""
        offsets = np.rint(np.arange(rows) * math.tan(phi)).astype(np.int64)
        return cls(offsets=offsets, width=width)

    @property
    def n_lines(self) -> int:
        """Number of digital lines that cross the raster."""
        return self.width + int(self.offsets.max()) - int(self.offsets.min())

    def _starts(self) -> NDArray[np.int64]:
        # Column of line index 0..n_lines in row r: pixel c sits on line c + max(o) − o(r).
        return int(self.offsets.max()) - self.offsets

    def shear(self, a: NDArray[ScalarT], fill: float | int = 0) -> NDArray[ScalarT]:
        """Rows × lines array: column ``j`` holds line ``j`` (``fill`` outside the raster)."""
        out = np.full((a.shape[0], self.n_lines), fill, dtype=a.dtype)
        w = self.width
        for r, start in enumerate(self._starts()):
            out[r, start : start + w] = a[r]
        return out

    def unshear(self, s: NDArray[ScalarT]) -> NDArray[ScalarT]:
        """Inverse of :meth:`shear`: back to rows × columns of the raster."""
        out = np.empty((s.shape[0], self.width), dtype=s.dtype)
        w = self.width
        for r, start in enumerate(self._starts()):
            out[r] = s[r, start : start + w]
        return out
