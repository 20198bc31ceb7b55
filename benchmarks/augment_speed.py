"""Time the augmentation levels: ms per sample for a crop out of a large tile, one core.

Prints JSON to stdout (and to ``--json FILE``): per level the mean milliseconds per
sample over ``--samples`` draws, after a warm-up. The issue's target: ``medium``, a
768² crop from a 2048² tile, at most 15 ms per sample on one core.

    PYTHONPATH=src python benchmarks/augment_speed.py --samples 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import cv2
import numpy as np

from geopose.transforms import LEVELS, build_augmentation

TARGET_MS_MEDIUM = 15.0


def make_tile(size: int, seed: int) -> dict[str, Any]:
    """A synthetic tile: smooth colour texture, AGL (m) with 1 % no-data pixels."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    agl = cv2.resize(rng.uniform(0, 30, (size // 32, size // 32)).astype(np.float32), (size, size))
    agl[rng.random((size, size)) < 0.01] = np.nan
    return {"image": image, "agl": agl, "gsd": 0.3, "scale": 1.5, "angle": 1.0,
            "city": "BENCH", "id": "BENCH_0"}  # fmt: skip


def time_level(level: str, tile: dict[str, Any], crop: int, samples: int) -> float:
    """Mean ms per sample of ``level`` after a warm-up of 10 samples."""
    aug = build_augmentation(level, crop, rng=0)
    for _ in range(10):
        aug(tile)
    start = time.perf_counter()
    for _ in range(samples):
        aug(tile)
    return (time.perf_counter() - start) * 1000.0 / samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=2048, help="tile side (pixels)")
    parser.add_argument("--crop", type=int, default=768, help="crop side (pixels)")
    parser.add_argument("--samples", type=int, default=100, help="timed samples per level")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    tile = make_tile(args.tile, seed=0)
    ms = {level: round(time_level(level, tile, args.crop, args.samples), 3) for level in LEVELS}
    result = {
        "tile_px": args.tile,
        "crop_px": args.crop,
        "samples": args.samples,
        "cores": 1,
        "ms_per_sample": ms,
        "target_ms_medium": TARGET_MS_MEDIUM,
        "medium_within_target": ms["medium"] <= TARGET_MS_MEDIUM,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
