"""Ground-level rectification: move every pixel of an oblique image to its footprint.

The vertical flow of a pixel, ``v = agl · scale · d`` with ``d = (sin θ, cos θ)`` in
(column, row) pixels (DESIGN.md §1, :mod:`geopose.conventions`), maps the imaged point
to its ground footprint. :func:`rectify` applies it to an image and its AGL map:

1. **Move.** A pixel ``p`` with finite AGL goes to ``p + rint(v)``: its flow rounded to
   the nearest whole pixel per component (``np.rint``, ties to even). Because all
   pixels of one height move by the same whole-pixel shift, a flat roof moves rigidly.
   Pixels with no-data AGL (NaN, ±inf) do not move; targets outside the image are
   dropped.
2. **Taller wins.** Where several pixels land on one target, the one with the largest
   AGL wins: along one view ray the higher point is the one the camera sees. Equal
   heights never collide (they share one shift); the rule still breaks such ties
   deterministically by the lowest source index (row-major).
3. **Fill small holes.** A target no pixel reached is *occluded* when it lies in some
   ``(max_hole + 1)``-pixel square window, inside the image, that no pixel reached,
   i.e. in a gap wider than ``max_hole`` pixels in every direction; it keeps
   ``fill_color`` and NaN AGL. The remaining unreached targets lie in gaps at most
   ``max_hole`` pixels thin; they are *filled* in passes: in each
   pass every such pixel with a known 8-neighbour (known before the pass) copies the
   image and AGL of the known neighbour with the **lowest** AGL (ties: the first in
   row-major neighbour order). Small gaps are mostly ground hidden behind low objects
   or spread between pixels of a sloping surface, where the lower neighbour is the
   better guess and the copy keeps image and AGL consistent. (A hole with no reached
   pixel anywhere near it — possible only in an image that nothing reached — is
   occluded instead.)

Occluded ground is hidden behind buildings in the oblique view (the strip of ground
the lean of a roof covers) or lies under no-data AGL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geopose.conventions import angle_to_direction

#: The 8 neighbours (row, column offsets) in row-major order: the fill's tie order.
NEIGHBOURS: tuple[tuple[int, int], ...] = (
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, -1),
    (0, 1),
    (1, -1),
    (1, 0),
    (1, 1),
)

_LOW32 = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True)
class RectifyResult:
    """Ground-level rasters, all in the input's pixel grid.

    Attributes:
        image: H×W×C (or H×W) image of the input's dtype; ``fill_color`` where occluded.
        agl: H×W float32 AGL in metres at each ground position (the height of the
            surface seen from straight above); NaN where occluded.
        occluded: H×W bool, True where no pixel landed and the gap is wider than
            ``max_hole`` pixels (ground hidden in the oblique view, or no-data AGL).
        filled: H×W bool, True where no pixel landed but the gap was small and was
            filled from a neighbour. ``~(occluded | filled)`` is where pixels landed.
    """

    image: NDArray[np.generic]
    agl: NDArray[np.float32]
    occluded: NDArray[np.bool_]
    filled: NDArray[np.bool_]


def rectify(
    image: ArrayLike,
    agl: ArrayLike,
    scale: float,
    angle: float,
    *,
    max_hole: int = 2,
    fill_color: float | Sequence[float] = 0,
) -> RectifyResult:
    """Move each pixel of an oblique image by its vertical flow to its ground footprint.

    Args:
        image: H×W×C (typically uint8 RGB) or H×W image.
        agl: H×W height above ground in metres (converted to float32), NaN = no data.
        scale: vertical-flow scale in pixels per metre of height (≥ 0, finite).
        angle: vertical-flow angle in radians (DESIGN.md §1 convention).
        max_hole: widest gap, in pixels, that is filled from neighbours; wider
            unreached areas are marked occluded. 0 marks every unreached pixel occluded.
        fill_color: image value(s) of occluded pixels (one per channel, or one for all).

    Returns:
        A :class:`RectifyResult`; see the module docstring for the exact rules.
    """
    img = np.asarray(image)
    heights = np.asarray(agl, dtype=np.float32)
    _check_inputs(img, heights, scale, angle, max_hole)
    fill = _fill_value(img, fill_color)
    winners = scatter_taller_wins(heights, scale, angle)
    reached = winners >= 0
    occluded = occlusion_mask(~reached, max_hole)
    holes = ~reached & ~occluded

    out_img = _gather_pixels(img, winners, fill)
    out_agl = np.append(heights.ravel(), np.float32(np.nan))[winners].reshape(heights.shape)
    unfilled = fill_holes(out_img, out_agl, reached, holes)
    return RectifyResult(
        image=out_img, agl=out_agl, occluded=occluded | unfilled, filled=holes & ~unfilled
    )


def _check_inputs(
    img: NDArray[np.generic], heights: NDArray[np.float32], scale: float, angle: float, hole: int
) -> None:
    if heights.ndim != 2:
        raise ValueError(f"agl must be H×W, got shape {heights.shape}")
    if img.ndim not in (2, 3) or img.shape[:2] != heights.shape:
        raise ValueError(f"image shape {img.shape} does not match agl shape {heights.shape}")
    if heights.size >= 2**32:
        raise ValueError(f"image too large to rectify in one piece ({heights.shape})")
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a finite number ≥ 0 px/m, got {scale}")
    if not math.isfinite(angle):
        raise ValueError(f"angle must be finite, got {angle}")
    if int(hole) != hole or hole < 0:
        raise ValueError(f"max_hole must be a whole number of pixels ≥ 0, got {hole}")


def _fill_value(
    img: NDArray[np.generic], fill_color: float | Sequence[float]
) -> NDArray[np.generic]:
    fill = np.asarray(fill_color, dtype=np.float64)
    channels = img.shape[2] if img.ndim == 3 else 1
    if fill.ndim > 1 or (fill.ndim == 1 and fill.size not in (1, channels)):
        raise ValueError(f"fill_color must have 1 or {channels} values, got {fill.size}")
    if img.ndim == 2 and fill.ndim == 1:
        fill = fill[0]
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype.name)
        if np.any(fill < info.min) or np.any(fill > info.max):
            raise ValueError(f"fill_color {fill_color} does not fit {img.dtype}")
    return fill.astype(img.dtype)


def _gather_pixels(
    img: NDArray[np.generic], winners: NDArray[np.int64], fill: NDArray[np.generic]
) -> NDArray[np.generic]:
    """Pixel ``winners[r, c]`` of ``img`` at (r, c); ``fill`` where ``winners`` is −1.

    Each pixel's channels are viewed as one opaque item so one ``take`` moves them all;
    the fill pixel is appended last, so index −1 picks it.
    """
    n = winners.size
    pixels = np.ascontiguousarray(img).reshape(n, -1)
    table = np.concatenate([pixels, np.broadcast_to(fill, pixels.shape[1:])[None]])
    items = table.view(np.dtype((np.void, table.shape[1] * table.itemsize))).ravel()
    out = np.take(items, winners.ravel())
    return out.view(img.dtype).reshape(img.shape)


def flow_targets(
    agl: NDArray[np.float32], scale: float, angle: float
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Flat target index of every pixel and whether it moves (finite AGL, target inside).

    The target of pixel (r, c) is ``(r + rint(agl·scale·cos θ), c + rint(agl·scale·sin θ))``
    computed in float64; the target index of a pixel that does not move is meaningless.
    """
    h, w = agl.shape
    dx, dy = angle_to_direction(float(angle))
    mag = agl.astype(np.float64) * scale
    finite = np.isfinite(mag)
    mag[~finite] = 0.0
    rows = np.arange(h, dtype=np.float64)[:, None] + np.rint(mag * dy)
    cols = np.arange(w, dtype=np.float64)[None, :] + np.rint(mag * dx)
    moves = finite & (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    rows[~moves] = 0
    cols[~moves] = 0
    return (rows.astype(np.int64) * w + cols.astype(np.int64)).ravel(), moves.ravel()


def _sortable_bits(values: NDArray[np.float32]) -> NDArray[np.uint64]:
    """Map float32 to uint32 codes (as uint64) that sort like the floats (no NaN)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    negative = (bits >> np.uint32(31)).astype(bool)
    codes = np.where(negative, ~bits, bits | np.uint32(0x80000000))
    return codes.astype(np.uint64)


def scatter_taller_wins(agl: NDArray[np.float32], scale: float, angle: float) -> NDArray[np.int64]:
    """For every target pixel, the flat index of the source pixel that lands there (−1: none).

    Where several sources land on one target the largest AGL wins, then the lowest
    source index. Vectorised with one ``np.maximum.at`` over a packed uint64 key: the
    high 32 bits order the heights, the low 32 bits hold the inverted source index.
    """
    targets, moves = flow_targets(agl, scale, angle)
    sources = np.flatnonzero(moves)
    key = (_sortable_bits(agl.ravel()[sources]) << np.uint64(32)) | (
        _LOW32 - sources.astype(np.uint64)
    )
    best = np.zeros(agl.size, dtype=np.uint64)  # 0: nothing landed (no real key is 0)
    np.maximum.at(best, targets[sources], key)
    winners = (_LOW32 - (best & _LOW32)).astype(np.int64)
    winners[best == 0] = -1
    return winners.reshape(agl.shape)


def _all_runs(mask: NDArray[np.bool_], size: int, axis: int) -> NDArray[np.bool_]:
    """``out[i] = all(mask[i : i + size])`` along ``axis`` (length n − size + 1)."""
    n = mask.shape[axis]

    def part(k: int) -> NDArray[np.bool_]:
        index: list[slice] = [slice(None)] * mask.ndim
        index[axis] = slice(k, n - size + 1 + k)
        return mask[tuple(index)]

    out = part(0).copy()
    for k in range(1, size):
        out &= part(k)
    return out


def _any_covering(anchors: NDArray[np.bool_], size: int, axis: int) -> NDArray[np.bool_]:
    """``out[r] = any(anchors[r − size + 1 : r + 1])`` along ``axis`` (length n + size − 1)."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (size - 1, size - 1)
    padded = np.pad(anchors, pad)
    return _all_runs(~padded, size, axis) ^ True


def occlusion_mask(unreached: NDArray[np.bool_], max_hole: int) -> NDArray[np.bool_]:
    """Unreached pixels that lie in a fully unreached (max_hole+1)² window inside the image.

    This is a morphological opening of ``unreached`` by a square of side ``max_hole + 1``
    (windows inside the image only): it keeps areas too wide to fill and drops gaps at
    most ``max_hole`` pixels thin, at the image border too.
    """
    size = int(max_hole) + 1
    h, w = unreached.shape
    if size > h or size > w:
        return np.zeros((h, w), dtype=bool)
    # full[i, j]: the window with top-left corner (i, j) is all unreached (separable).
    full = _all_runs(_all_runs(unreached, size, 0), size, 1)
    # Pixel (r, c) lies in the windows with corners r − size + 1 … r, c − size + 1 … c.
    covered = _any_covering(_any_covering(full, size, 0), size, 1)
    return covered & unreached


def fill_holes(
    image: NDArray[np.generic],
    agl: NDArray[np.float32],
    known: NDArray[np.bool_],
    holes: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Fill ``holes`` in place from known 8-neighbours, pass by pass (see module doc).

    In each pass, every hole pixel with a neighbour known before the pass copies the
    neighbour with the lowest AGL (ties: first in :data:`NEIGHBOURS` order); filled
    pixels become known for the next pass. Returns the holes that had no known pixel to
    fill from (only possible when nothing at all landed near them); they are unchanged.
    """
    h, w = agl.shape
    known = known.copy()
    todo_r, todo_c = np.nonzero(holes)
    offsets = np.asarray(NEIGHBOURS, dtype=np.int64)
    while todo_r.size:
        nr = todo_r[None, :] + offsets[:, :1]
        nc = todo_c[None, :] + offsets[:, 1:]
        inside = (nr >= 0) & (nr < h) & (nc >= 0) & (nc < w)
        nr, nc = np.where(inside, nr, 0), np.where(inside, nc, 0)
        usable = inside & known[nr, nc]
        cand = np.where(usable, agl[nr, nc], np.inf)
        pick = np.argmin(cand, axis=0)  # first minimum: row-major neighbour order
        ready = usable.any(axis=0)
        if not ready.any():
            break
        cols = np.arange(todo_r.size)[ready]
        src_r, src_c = nr[pick[ready], cols], nc[pick[ready], cols]
        dst_r, dst_c = todo_r[ready], todo_c[ready]
        image[dst_r, dst_c] = image[src_r, src_c]
        agl[dst_r, dst_c] = agl[src_r, src_c]
        known[dst_r, dst_c] = True
        todo_r, todo_c = todo_r[~ready], todo_c[~ready]
    left = np.zeros(agl.shape, dtype=bool)
    left[todo_r, todo_c] = True
    return left
