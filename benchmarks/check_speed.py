"""Time ``geopose check`` per 1,000 tiles in its fast and full modes (one process).

Writes a temporary layout of ``--tiles`` 2048² training tiles (lossless JPEG 2000 RGB,
uint16 cm AGL, VFLOW JSON, the three CSVs), runs ``check_layout`` with ``workers=1`` in
both modes and prints JSON: ``{"fast_s_per_1000_tiles": …, "full_s_per_1000_tiles": …}``
plus the settings. Run: ``PYTHONPATH=src python benchmarks/check_speed.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from geopose.io.check import check_layout
from geopose.io.layout import ImageMeta, write_index
from geopose.io.raster import write_agl, write_rgb
from geopose.io.vflow import write_vflow


def synthetic_tile(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A city-like RGB tile (blocks + texture noise, uint8) and its AGL (metres, NaN holes)."""
    blocks = rng.integers(0, 256, (size // 64, size // 64, 3), dtype=np.uint8)
    rgb = np.repeat(np.repeat(blocks, 64, axis=0), 64, axis=1)
    rgb = np.clip(rgb.astype(np.int16) + rng.integers(-12, 13, rgb.shape), 0, 255).astype(np.uint8)
    heights = rng.uniform(0, 30, (size // 64, size // 64)).astype(np.float32)
    agl = np.repeat(np.repeat(heights, 64, axis=0), 64, axis=1)
    agl[rng.random(agl.shape) < 0.01] = np.nan
    return rgb, agl


def build(root: Path, tiles: int, size: int) -> None:
    """Write ``tiles`` training tiles of ``size``² pixels and the CSV indexes."""
    rng = np.random.default_rng(0)
    ids = [f"JAX_{i:04d}" for i in range(tiles)]
    for image_id in ids:
        rgb, agl = synthetic_tile(rng, size)
        write_rgb(root / "train" / f"{image_id}_RGB.j2k", rgb)
        write_agl(root / "train" / f"{image_id}_AGL.tif", agl)
        write_vflow(root / "train" / f"{image_id}_VFLOW.json", 1.2, 0.7)
    write_index(root, ids, [], {i: ImageMeta(i, "JAX", 0.35) for i in ids})


def time_check(root: Path, full: bool, repeats: int) -> float:
    """Best wall time (s) of ``repeats`` checks of the layout."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        report = check_layout(root, full=full, workers=1, progress=False)
        best = min(best, time.perf_counter() - start)
        if not report.ok:
            raise SystemExit(f"benchmark layout has problems:\n{report.format_text()}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiles", type=int, default=8, help="number of tiles")
    parser.add_argument("--size", type=int, default=2048, help="tile side in pixels")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per mode (best kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.tiles, args.size)
        fast = time_check(root, False, args.repeats)
        full = time_check(root, True, args.repeats)
    per_1000 = 1000.0 / args.tiles
    print(
        json.dumps(
            {
                "fast_s_per_1000_tiles": round(fast * per_1000, 1),
                "full_s_per_1000_tiles": round(full * per_1000, 1),
                "full_over_fast": round(full / fast, 1),
                "tiles": args.tiles,
                "tile_px": args.size,
                "workers": 1,
                "repeats": args.repeats,
            }
        )
    )


if __name__ == "__main__":
    main()
