"""CPU forward time of the ``tiny`` and ``b0-unet`` presets at 512² px; prints JSON.

Batch 1, ``torch.no_grad()``, eval mode, random weights; the median of ``--runs`` timed
passes after one warm-up. Both models are timed in this one run, so their ratio is
comparable even on a busy machine.

    PYTHONPATH=src python benchmarks/model_speed.py [--size 512] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import geopose  # noqa: F401  (torchvision guard before timm)
from geopose.models import create_model


def forward_seconds(name: str, size: int, runs: int) -> float:
    """Median wall time (s) of one no-grad forward of preset ``name`` on 1×3×size×size."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    image = torch.rand(1, 3, size, size)
    gsd = torch.tensor([0.3])
    times = []
    with torch.no_grad():
        model(image, gsd)
        for _ in range(runs):
            start = time.perf_counter()
            model(image, gsd)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--runs", type=int, default=5, help="timed passes per model")
    args = parser.parse_args()
    tiny = forward_seconds("tiny", args.size, args.runs)
    b0 = forward_seconds("b0-unet", args.size, args.runs)
    print(
        json.dumps(
            {
                "size": args.size,
                "batch": 1,
                "runs": args.runs,
                "threads": torch.get_num_threads(),
                "tiny_forward_s": round(tiny, 4),
                "b0_unet_forward_s": round(b0, 4),
                "b0_over_tiny": round(b0 / tiny, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
