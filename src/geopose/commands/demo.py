"""``geopose demo``: the whole system on generated data, on a CPU, in one command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from geopose.errors import EXIT_OK, EXIT_PROBLEMS


def register(subparsers: Any) -> None:
    """Add the ``demo`` verb."""
    from geopose.engine import demo as d

    parser = subparsers.add_parser(
        "demo",
        help="generate four synthetic cities, train, predict with D4 TTA, score, report",
        description="The whole workflow on a laptop CPU with no download: generate a "
        "synthetic four-city dataset (train + held-out test), train a CPU preset for "
        "--minutes, predict the held-out tiles with D4 test-time augmentation, score them "
        "with the official metric, and write OUT/report.html and OUT/summary.json.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out)"
    )
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="training time in minutes (default 10)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data and training")
    parser.add_argument(
        "--train-per-city",
        type=int,
        default=d.DEFAULT_TRAIN_PER_CITY,
        metavar="N",
        help="synthetic training tiles per city (default %(default)s)",
    )
    parser.add_argument(
        "--test-per-city",
        type=int,
        default=d.DEFAULT_TEST_PER_CITY,
        metavar="N",
        help="held-out test tiles per city (default %(default)s)",
    )
    parser.add_argument(
        "--size", type=int, default=d.DEFAULT_SIZE, help="tile side in pixels (default %(default)s)"
    )
    parser.add_argument(
        "--recipe",
        default=d.DEFAULT_RECIPE,
        help="training recipe name or YAML file (default %(default)s)",
    )
    parser.add_argument(
        "--shrink-flow",
        action="store_true",
        help="write scales shrunk by the TTA views' direction agreement (predict "
        "--shrink-flow) and also score the unshrunk prediction",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="training config overrides"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 1 when some prediction could not be scored."""
    from geopose.engine.demo import DemoOptions, run_demo

    summary = run_demo(
        DemoOptions(
            out=args.out,
            minutes=args.minutes,
            seed=args.seed,
            shrink_flow=args.shrink_flow,
            train_per_city=args.train_per_city,
            test_per_city=args.test_per_city,
            size=args.size,
            recipe=args.recipe,
            overrides=list(args.overrides),
            progress=not args.no_progress,
        )
    )
    return EXIT_PROBLEMS if summary["failed"] else EXIT_OK
