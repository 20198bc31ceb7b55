"""Time the augmentation levels: ms per sample for a crop out of a large tile, one core.

Prints JSON to stdout (and to ``--json FILE``): per level the mean, median and 90th
percentile of milliseconds per sample over ``--samples`` draws, after a warm-up.
The issue's target: ``medium``, a 768² crop from a 2048² tile, at most 15 ms per
sample (mean) on one core.

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


def time_levels(
    tile: dict[str, Any], crop: int, samples: int, chunk: int = 10
) -> dict[str, dict[str, float]]:
    """Per level: mean, median and 90th-percentile ms per sample.

    Levels are timed in interleaved chunks of ``chunk`` samples, so a change in the
    machine's load affects all of them alike; each pipeline is warmed up first.
    """
    augs = {level: build_augmentation(level, crop, rng=0) for level in LEVELS}
    for aug in augs.values():
        for _ in range(5):
            aug(tile)
    times: dict[str, list[float]] = {level: [] for level in LEVELS}
    while len(times[LEVELS[0]]) < samples:
        for level, aug in augs.items():
            for _ in range(chunk):
                start = time.perf_counter()
                aug(tile)
                times[level].append((time.perf_counter() - start) * 1000.0)
    return {
        level: {
            "mean": round(float(np.mean(t)), 3),
            "median": round(float(np.median(t)), 3),
            "p90": round(float(np.percentile(t, 90)), 3),
        }
        for level, t in times.items()
    }


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
    ms = time_levels(tile, args.crop, args.samples)
    result = {
        "tile_px": args.tile,
        "crop_px": args.crop,
        "samples": args.samples,
        "cores": 1,
        "ms_per_sample": ms,
        "target_ms_medium": TARGET_MS_MEDIUM,
        "medium_within_target": ms["medium"]["mean"] <= TARGET_MS_MEDIUM,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
