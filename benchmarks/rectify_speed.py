"""Speed of geopose.rectification against a per-pixel Python loop, measured in one run.

Builds a synthetic oblique tile (boxes of random heights on noisy ground, rendered by
the ray rule: a pixel sees the highest point along its view ray), rectifies it with the
vectorised :func:`geopose.rectification.rectify` (best of ``--repeats`` runs) and with the
naive loop below (one run), checks that both give exactly the same result, and prints
JSON figures (times in seconds, speed-up = naive / vectorised).

    PYTHONPATH=src python benchmarks/rectify_speed.py --size 1024 --json rectify.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geopose.rectification import rectify


def oblique_scene(
    size: int, scale: float, angle: float, seed: int
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """(RGB, AGL metres) of an oblique view of random boxes, by the ray rule.

    Pixel q sees height t = j / scale for the largest whole step j with
    ``ground_height(q + j·d) ≥ t`` (nearest sample), i.e. the highest point on its ray.
    """
    rng = np.random.default_rng(seed)
    heights = np.abs(rng.normal(0.0, 0.3, (size, size))).astype(np.float32)
    colors = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    for _ in range(size * size // 5000):
        r, c = rng.integers(0, size, 2)
        bh, bw = rng.integers(8, 60, 2)
        heights[r : r + bh, c : c + bw] = rng.uniform(3.0, 25.0)
        colors[r : r + bh, c : c + bw] = rng.integers(0, 256, 3, dtype=np.uint8)
    dx, dy = math.sin(angle), math.cos(angle)
    rows, cols = np.mgrid[0:size, 0:size]
    agl = np.zeros((size, size), dtype=np.float32)
    image = colors.copy()
    seen = np.zeros((size, size), dtype=bool)
    for j in range(math.ceil(float(heights.max()) * scale), 0, -1):
        gr = np.clip(np.rint(rows + j * dy).astype(np.int64), 0, size - 1)
        gc = np.clip(np.rint(cols + j * dx).astype(np.int64), 0, size - 1)
        hit = ~seen & (heights[gr, gc] * scale >= j)
        agl[hit] = j / scale
        image[hit] = colors[gr[hit], gc[hit]] // 2 + 60  # walls and roofs, tinted
        seen |= hit
    agl[~seen] = heights[~seen]
    agl[rng.random((size, size)) < 0.001] = np.nan  # sparse no-data
    return image, agl


def naive_rectify(
    image: NDArray[np.uint8],
    agl: NDArray[np.float32],
    scale: float,
    angle: float,
    max_hole: int,
    fill_color: tuple[int, int, int],
) -> dict[str, NDArray[Any]]:
    """The rules of geopose.rectification one pixel at a time (the reference to beat)."""
    h, w = agl.shape
    dx, dy = math.sin(angle), math.cos(angle)
    best_h = [[-math.inf] * w for _ in range(h)]
    best_src: list[list[tuple[int, int] | None]] = [[None] * w for _ in range(h)]
    for r in range(h):
        for c in range(w):
            a = float(agl[r, c])
            if math.isfinite(a):
                m = a * scale
                tr, tc = r + round(m * dy), c + round(m * dx)
                if 0 <= tr < h and 0 <= tc < w and (best_src[tr][tc] is None or a > best_h[tr][tc]):
                    best_h[tr][tc], best_src[tr][tc] = a, (r, c)
    out_img = np.empty_like(image)
    out_img[:] = fill_color
    out_agl = np.full((h, w), np.nan, dtype=np.float32)
    for r in range(h):
        for c in range(w):
            src = best_src[r][c]
            if src is not None:
                out_img[r, c] = image[src]
                out_agl[r, c] = agl[src]
    size = max_hole + 1

    def free(r: int, c: int) -> bool:
        return best_src[r][c] is None

    def window_free(i: int, j: int) -> bool:
        if i < 0 or j < 0 or i + size > h or j + size > w:
            return False
        return all(free(i + y, j + x) for y in range(size) for x in range(size))

    occluded = np.zeros((h, w), dtype=bool)
    holes = []
    for r in range(h):
        for c in range(w):
            if free(r, c):
                if any(
                    window_free(i, j)
                    for i in range(r - size + 1, r + 1)
                    for j in range(c - size + 1, c + 1)
                ):
                    occluded[r, c] = True
                else:
                    holes.append((r, c))
    filled = np.zeros((h, w), dtype=bool)
    known = np.array([[not free(r, c) for c in range(w)] for r in range(h)])
    while holes:
        snapshot, rest = known.copy(), []
        for r, c in holes:
            pick = None
            for y in (-1, 0, 1):
                for x in (-1, 0, 1):
                    nr, nc = r + y, c + x
                    inside = 0 <= nr < h and 0 <= nc < w
                    if (
                        inside
                        and snapshot[nr, nc]
                        and (pick is None or out_agl[nr, nc] < out_agl[pick])
                    ):
                        pick = (nr, nc)
            if pick is None:
                rest.append((r, c))
                continue
            out_img[r, c], out_agl[r, c] = out_img[pick], out_agl[pick]
            known[r, c] = filled[r, c] = True
        if len(rest) == len(holes):
            occluded[tuple(np.array(rest).T)] = True
            break
        holes = rest
    return {"image": out_img, "agl": out_agl, "occluded": occluded, "filled": filled}


def measure(size: int, repeats: int, seed: int) -> dict[str, Any]:
    """Time both implementations on one tile and compare their outputs."""
    scale, angle, max_hole, fill = 1.3, 2.2, 2, (0, 0, 0)
    image, agl = oblique_scene(size, scale, angle, seed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fast = rectify(image, agl, scale, angle, max_hole=max_hole, fill_color=fill)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    slow = naive_rectify(image, agl, scale, angle, max_hole, fill)
    naive_s = time.perf_counter() - start
    equal = all(
        np.array_equal(getattr(fast, key), slow[key], equal_nan=key == "agl")
        for key in ("image", "agl", "occluded", "filled")
    )
    vector_s = min(times)
    return {
        "benchmark": "rectify_speed",
        "tile_px": size,
        "scale_px_per_m": scale,
        "angle_rad": angle,
        "max_hole_px": max_hole,
        "vectorised_s": vector_s,
        "vectorised_runs": repeats,
        "naive_loop_s": naive_s,
        "speedup": naive_s / vector_s,
        "identical": equal,
        "occluded_fraction": float(fast.occluded.mean()),
        "filled_fraction": float(fast.filled.mean()),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="tile side in pixels")
    parser.add_argument("--repeats", type=int, default=5, help="vectorised runs (best kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = measure(args.size, args.repeats, args.seed)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
