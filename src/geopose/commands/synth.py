"""``geopose synth``: write a synthetic dataset in the competition layout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from geopose.data.synth.dataset import write_dataset
from geopose.data.synth.flaws import LabelFlaws
from geopose.data.synth.presets import load_presets
from geopose.errors import EXIT_OK, UsageError
from geopose.io.atomic import atomic_write_text


def _positive(kind: type, low: int) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
        return value

    return parse


def register(subparsers: Any) -> None:
    """Add the ``synth`` verb."""
    p = subparsers.add_parser(
        "synth",
        help="generate a synthetic oblique-city dataset with exact labels",
        description="Write OUT_DIR/train (RGB j2k, AGL tif, VFLOW json), test (RGB), "
        "test_truth (AGL, VFLOW of the test ids), geopose_train.csv, geopose_test.csv and "
        "metadata.csv (id, city, gsd m/px, group). Output is byte-identical for a seed "
        "whatever --workers is.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="dataset folder to write")
    p.add_argument(
        "--cities",
        default="ARG,ATL,JAX,OMA",
        help="comma-separated city presets (default: ARG,ATL,JAX,OMA)",
    )
    p.add_argument(
        "--train-per-city",
        type=_positive(int, 0),
        default=8,
        metavar="N",
        help="training tiles per city (default 8)",
    )
    p.add_argument(
        "--test-per-city",
        type=_positive(int, 0),
        default=2,
        metavar="N",
        help="test tiles per city (default 2)",
    )
    p.add_argument(
        "--size",
        type=_positive(int, 8),
        default=512,
        metavar="PX",
        help="tile side in pixels (default 512; the real tiles are 2048)",
    )
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    p.add_argument(
        "--workers",
        type=_positive(int, 1),
        default=1,
        metavar="W",
        help="worker processes (default 1)",
    )
    p.add_argument(
        "--tiles-per-district",
        type=_positive(int, 1),
        default=3,
        metavar="N",
        help="consecutive tiles cut (overlapping) from one district (default 3)",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="also write OUT_DIR/preview/{CITY}.png: RGB | AGL | flow arrows",
    )
    p.add_argument(
        "--flaws",
        action="store_true",
        help="add the real data's label flaws to training AGL (no-data patches "
        "65535, speckle, buildings in AGL but not in RGB)",
    )
    p.add_argument(
        "--test-flaws",
        action="store_true",
        help="add the same flaws to the test truth too (default: clean)",
    )
    p.add_argument(
        "--export-truth",
        action="store_true",
        help="georeference every tile (UTM 17N, north-up; RGB as GeoTIFF) and write OUT_DIR/truth/"
        "{id}_NDSM.tif (orthographic heights, m), {id}_VIEW.json (satellite elevation and "
        "azimuth, degrees) and {id}_BUILDINGS.geojson (footprints with true heights, m), "
        "the inputs `geopose label` and `geopose buildings` take",
    )
    p.add_argument(
        "--presets",
        type=Path,
        action="append",
        default=[],
        metavar="YAML",
        help="extra city presets file (repeatable); see geopose/presets/cities.yaml",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="write a summary (ids, mean AGL m per city, seconds) as JSON",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the dataset; print a one-line summary per city."""
    presets = load_presets(args.presets)
    cities = [c.strip() for c in args.cities.split(",") if c.strip()]
    unknown = [c for c in cities if c not in presets]
    if not cities or unknown:
        raise UsageError(f"--cities: unknown {unknown or 'none given'}; known: "
                         f"{', '.join(sorted(presets))}")  # fmt: skip
    flaws = LabelFlaws.typical() if args.flaws else None
    summary = write_dataset(
        args.out_dir, cities, args.train_per_city, args.test_per_city, args.size, args.seed,
        args.workers, args.preview, tiles_per_district=args.tiles_per_district,
        train_flaws=flaws, test_flaws=LabelFlaws.typical() if args.test_flaws else None,
        presets=presets, progress=not args.no_progress, export_truth=args.export_truth,
    )  # fmt: skip
    n = len(summary.train_ids) + len(summary.test_ids)
    print(f"wrote {len(summary.train_ids)} train + {len(summary.test_ids)} test tiles "
          f"({args.size} px) to {summary.out_dir} in {summary.seconds:.1f} s")  # fmt: skip
    for city, mean in summary.mean_agl.items():
        print(f"  {city}: mean AGL {mean:.2f} m (real data: {presets[city].mean_agl:.2f} m)")
    for path in summary.previews:
        print(f"  preview: {path}")
    if args.json:
        payload = {
            "out_dir": str(summary.out_dir), "tiles": n, "size_px": args.size,
            "seed": args.seed, "workers": args.workers, "seconds": summary.seconds,
            "mean_agl_m": summary.mean_agl, "train_ids": summary.train_ids,
            "test_ids": summary.test_ids, "previews": [str(p) for p in summary.previews],
        }  # fmt: skip
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return EXIT_OK
