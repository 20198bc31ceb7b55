"""Data loading: a training crop from the decoded-tile cache vs decoding the whole tile.

    PYTHONPATH=src python benchmarks/data_speed.py [--size 1024] [--crop 512] [--tiles 4]

Writes ``--tiles`` synthetic tiles (lossless JPEG 2000 RGB + uint16 AGL GeoTIFF, as the
competition ships them), then measures per training sample, on one core:

- ``full_decode_ms``: read both files whole (``load_sample``) and cut a random crop:
  what a loader without a cache pays for every sample;
- ``cache_build_ms``: the one-time cost per tile of decoding it into the cache;
- ``cache_crop_ms``: a random crop of the memory-mapped cached tile, copied out
  (``TrainDataset`` with augmentation level ``none``);
- ``full_over_cache``: how many times faster the cached crop is (one run, one machine).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geopose.data.cache import RasterCache
from geopose.data.dataset import TrainDataset, build_cache
from geopose.data.synth import write_dataset
from geopose.io.catalog import open_layout
from geopose.io.sample import load_sample


def _ms(times: list[float]) -> float:
    return round(1000 * statistics.median(times), 3)


def _full_decode(entries: list[Any], crop: int, samples: int, rng: np.random.Generator) -> float:
    times = []
    for i in range(samples):
        start = time.perf_counter()
        sample = load_sample(entries[i % len(entries)])
        h, w = sample["agl"].shape
        top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        image = np.ascontiguousarray(sample["image"][top : top + crop, left : left + crop])
        agl = np.ascontiguousarray(sample["agl"][top : top + crop, left : left + crop])
        times.append(time.perf_counter() - start)
        assert image.shape[:2] == agl.shape == (crop, crop)
    return _ms(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="tile side in px (default 1024)")
    parser.add_argument("--crop", type=int, default=512, help="crop side in px (default 512)")
    parser.add_argument("--tiles", type=int, default=4, help="tiles written (default 4)")
    parser.add_argument("--samples", type=int, default=20, help="timed samples per way")
    args = parser.parse_args()
    if not 0 < args.crop <= args.size:
        print("--crop must be between 1 and --size", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_dataset(root, ["JAX"], args.tiles, 0, args.size, seed=0, progress=False)
        entries = sorted(open_layout(root).entries("train"), key=lambda e: e.id)
        # Warm the OS file cache so both ways read from memory, not disk.
        for entry in entries:
            load_sample(entry)
        full_ms = _full_decode(entries, args.crop, args.samples, rng)

        cache_dir = Path(tmp) / "cache"
        start = time.perf_counter()
        build_cache(entries, RasterCache(cache_dir), progress=False)
        build_ms = 1000 * (time.perf_counter() - start) / len(entries)

        dataset = TrainDataset(entries, cache_dir, level="none", crop_size=args.crop, seed=0)
        dataset[0]  # open the memory maps once
        times = []
        for i in range(args.samples):
            dataset.set_epoch(i)
            start = time.perf_counter()
            sample = dataset[i % len(entries)]
            times.append(time.perf_counter() - start)
            assert sample["image"].shape[:2] == (args.crop, args.crop)
        cache_ms = _ms(times)
    report = {
        "benchmark": "data_speed",
        "tile_px": args.size,
        "crop_px": args.crop,
        "tiles": args.tiles,
        "full_decode_ms": full_ms,
        "cache_build_ms": round(build_ms, 3),
        "cache_crop_ms": cache_ms,
        "full_over_cache": round(full_ms / cache_ms, 2) if cache_ms > 0 else None,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
