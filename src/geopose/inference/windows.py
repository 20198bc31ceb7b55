"""Sliding windows over large rasters, cosine blending of AGL, and a strip buffer.

A raster of H×W pixels is covered by windows of ``size`` pixels (or the whole side when
it is shorter) starting every ``size − overlap`` pixels, the last one moved back to end
at the border. Overlapping AGL predictions are blended with weights that ramp up as a
raised cosine over ``overlap`` pixels on every side that has a neighbour (weight 1
elsewhere, always > 0), then normalised by the summed weights.

Windows are processed row by row. :class:`StripBlender` keeps only one window-row of
accumulated AGL (``size`` × W float32 values and weights): once a window row is done,
the rows above the next row's start are final and are handed out, so a 10k × 10k
raster never needs to be in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geopose.errors import UsageError


def window_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets (px) of windows of ``size`` px covering ``length`` px with ``overlap``.

    A side no longer than ``size`` gets one window at 0. Otherwise windows start every
    ``size − overlap`` px and the last one ends exactly at ``length``.
    """
    if length <= 0:
        raise UsageError(f"cannot cover a side of {length} px")
    if size <= 0 or not 0 <= overlap < size:
        raise UsageError(f"window {size} px with overlap {overlap} px: need 0 ≤ overlap < window")
    if length <= size:
        return [0]
    step = size - overlap
    starts = list(range(0, length - size, step))
    starts.append(length - size)
    return starts


def cosine_ramp(overlap: int) -> NDArray[np.float32]:
    """Raised-cosine ramp of ``overlap`` values in (0, 1): 0.5 − 0.5·cos(π(i + ½)/overlap)."""
    i = np.arange(overlap, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(math.pi * (i + 0.5) / max(overlap, 1))).astype(np.float32)


def blend_profile(size: int, overlap: int, ramp_start: bool, ramp_end: bool) -> NDArray[np.float32]:
    """1-D blending weights of a window side: ramps on the sides that have a neighbour."""
    w = np.ones(size, dtype=np.float32)
    n = min(overlap, size // 2)
    if n > 0:
        ramp = cosine_ramp(n)
        if ramp_start:
            w[:n] = ramp
        if ramp_end:
            w[size - n :] = np.minimum(w[size - n :], ramp[::-1])
    return w


@dataclass(frozen=True)
class Window:
    """A window of a raster: ``top``, ``left`` (px) and its ``height`` × ``width`` (px)."""

    top: int
    left: int
    height: int
    width: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(top, left, height, width), as :func:`geopose.io.read_rgb` takes it."""
        return self.top, self.left, self.height, self.width


@dataclass(frozen=True)
class WindowGrid:
    """All windows of an H×W raster for a window ``size`` and ``overlap`` (px)."""

    height: int
    width: int
    size: int
    overlap: int

    @property
    def rows(self) -> list[int]:
        """Top offsets of the window rows."""
        return window_starts(self.height, self.size, self.overlap)

    @property
    def cols(self) -> list[int]:
        """Left offsets of the window columns."""
        return window_starts(self.width, self.size, self.overlap)

    @property
    def window_height(self) -> int:
        return min(self.size, self.height)

    @property
    def window_width(self) -> int:
        return min(self.size, self.width)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def row(self, top: int) -> list[Window]:
        """The windows of the row starting at ``top``, left to right."""
        return [Window(top, left, self.window_height, self.window_width) for left in self.cols]

    def weights(self, window: Window) -> NDArray[np.float32]:
        """H×W blending weights of ``window`` (ramps only towards neighbouring windows)."""
        wy = blend_profile(
            window.height, self.overlap, window.top > 0, window.top + window.height < self.height
        )
        wx = blend_profile(
            window.width, self.overlap, window.left > 0, window.left + window.width < self.width
        )
        return np.outer(wy, wx)


class StripBlender:
    """Accumulate blended AGL window by window and release finished rows.

    Call :meth:`add` for every window of a row, then :meth:`finish_row` which yields
    ``(top, rows)`` blocks of final AGL (float32 metres, NaN where a prediction was
    NaN) that no later window touches.
    """

    def __init__(self, grid: WindowGrid) -> None:
        self.grid = grid
        self.rows = grid.rows
        self.row_index = 0
        self.top = 0  # raster row of buffer row 0
        h = grid.window_height
        self.acc = np.zeros((h, grid.width), dtype=np.float32)
        self.wsum = np.zeros((h, grid.width), dtype=np.float32)

    def add(self, window: Window, agl: NDArray[np.float32]) -> None:
        """Add a window's AGL prediction (``window.height`` × ``window.width``, metres)."""
        if agl.shape != (window.height, window.width):
            raise ValueError(f"window {window} got a prediction of shape {agl.shape}")
        weight = self.grid.weights(window)
        y = window.top - self.top
        region = (slice(y, y + window.height), slice(window.left, window.left + window.width))
        self.acc[region] += weight * agl
        self.wsum[region] += weight

    def finish_row(self) -> Iterator[tuple[int, NDArray[np.float32]]]:
        """Yield the final rows ``(raster top, block)`` after a window row is complete."""
        nxt = self.row_index + 1
        end = self.rows[nxt] if nxt < len(self.rows) else self.grid.height
        n = end - self.top
        with np.errstate(invalid="ignore", divide="ignore"):
            block = self.acc[:n] / self.wsum[:n]  # float32 / float32: a new float32 array
        yield self.top, block
        keep = self.acc.shape[0] - n
        self.acc[:keep] = self.acc[n:]
        self.wsum[:keep] = self.wsum[n:]
        self.acc[keep:] = 0.0
        self.wsum[keep:] = 0.0
        self.top = end
        self.row_index = nxt
