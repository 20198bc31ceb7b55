"""``geopose evaluate``: score submission files against truth files with the official metric.

The scoring itself is :mod:`geopose.scoring` (DESIGN.md §2); this verb parses the
options, prints the per-city table and exits 1 when a prediction is missing or invalid
(its city scores 0, as with the official scorer), after printing everything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from geopose.errors import EXIT_ABORTED, EXIT_OK, EXIT_PROBLEMS, UsageError
from geopose.io.atomic import atomic_write_text
from geopose.scoring import evaluate_files, find_tasks, format_table


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` verb."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score submission files with the official metric",
        description="Score predictions (official submission format: {id}_AGL.tif uint16 cm, "
        "{id}_VFLOW.json scale px/cm + angle rad) against truth files of the same names. "
        "Prints a per-city table and the final score (mean over cities of "
        "(AGL R² + VFLOW R²)/2). Exit code 1 when a prediction is missing or invalid.",
    )
    parser.add_argument(
        "--pred",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder with the predicted *_AGL.tif and *_VFLOW.json files",
    )
    parser.add_argument(
        "--truth",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder with the true *_AGL.tif and *_VFLOW.json files",
    )
    parser.add_argument(
        "--metadata",
        type=Path,
        metavar="CSV",
        help="metadata.csv (id, city, gsd): check each id's city against it",
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the figures to this JSON file"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        metavar="N",
        help="reading processes (1 = in this process; default: %(default)s)",
    )
    parser.set_defaults(func=run)


def _print_lines(lines: Iterable[str]) -> None:
    for line in lines:
        print(f"geopose evaluate: {line}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run ``geopose evaluate``; returns the exit code."""
    for what, folder in (("--pred", args.pred), ("--truth", args.truth)):
        if not folder.is_dir():
            raise UsageError(f"{what} {folder}: not a folder")
    if args.workers < 1:
        raise UsageError(f"--workers must be ≥ 1, got {args.workers}")
    tasks = find_tasks(args.pred, args.truth, args.metadata)
    metric, truth_problems = evaluate_files(tasks, args.workers)
    if truth_problems:
        _print_lines(f"truth file problem: {p}" for p in truth_problems)
        _print_lines([f"could not score: {len(truth_problems)} truth file problem(s)"])
        return EXIT_ABORTED
    result = metric.compute()
    print(format_table(result))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result.as_dict(), indent=2, allow_nan=False))
    if result.failed:
        lines = [f"{city} scores 0: {f}" for city, c in result.cities.items() for f in c.failed]
        _print_lines(lines)
        return EXIT_PROBLEMS
    return EXIT_OK
