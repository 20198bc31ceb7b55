"""Make a synthetic dataset with exact labels and look at one tile.

    python examples/make_synthetic_data.py OUT [--size 256] [--train 8] [--test 2]

Writes OUT in the competition layout (train/, test/, test_truth/, the CSVs) for the four
city presets, then reads one training tile back as a sample dict.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import geopose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="dataset folder to write")
    parser.add_argument("--size", type=int, default=256, help="tile side in pixels")
    parser.add_argument("--train", type=int, default=8, help="training tiles per city")
    parser.add_argument("--test", type=int, default=2, help="test tiles per city")
    parser.add_argument("--cities", default="ARG,ATL,JAX,OMA", help="city presets")
    args = parser.parse_args(argv)

    summary = geopose.synth(
        args.out,
        cities=args.cities.split(","),
        train_per_city=args.train,
        test_per_city=args.test,
        size=args.size,
        seed=0,
    )
    print(f"wrote {len(summary.train_ids)} train and {len(summary.test_ids)} test tiles")
    for city, mean in summary.mean_agl.items():
        print(f"  {city}: mean AGL {mean:.2f} m")

    tile = geopose.read_tile(args.out, summary.train_ids[0])
    print(
        f"{tile['id']}: {tile['image'].shape} px at {tile['gsd']:.3f} m/px, "
        f"AGL up to {np.nanmax(tile['agl']):.1f} m, flow angle {tile['angle']:.3f} rad, "
        f"scale {tile['scale']:.3f} px/m"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
