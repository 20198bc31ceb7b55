"""``geopose check DATA_DIR``: validate a competition layout and report every problem."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from geopose.errors import EXIT_OK, EXIT_PROBLEMS, UsageError
from geopose.io.atomic import atomic_write_text
from geopose.io.check import check_layout


def register(subparsers: Any) -> None:
    """Add the ``check`` verb to the ``geopose`` command."""
    parser = subparsers.add_parser(
        "check",
        help="validate a data layout (indexes, metadata, images, labels)",
        description="Validate a competition layout (train/, test/, optional test_truth/, "
        "geopose_train.csv, geopose_test.csv, metadata.csv): missing or unexpected files, "
        "unreadable images, RGB/AGL size mismatch, NaN or negative scale (px/cm), "
        "non-finite angle (rad), missing GSD (m/px) or city, city disagreeing with the file "
        "name, duplicate ids. Prints a summary and every problem; exits 0 when there is "
        "none, 1 otherwise. The default (fast) mode decodes only the coarsest JPEG 2000 "
        "resolution level of each image, so damage confined to the finer levels (a "
        "truncated or corrupt end of the code stream) goes unseen: run with --full to "
        "find it.",
    )
    parser.add_argument("data_dir", metavar="DATA_DIR", type=Path, help="layout root folder")
    parser.add_argument(
        "--full",
        action="store_true",
        help="decode every pixel of every image: the way to find damage in the fine JPEG "
        "2000 levels (default: headers and the coarsest level only, ~100× faster, which "
        "misses such damage)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="processes to use (default: all cores; 1 runs without a process pool)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the summary and the problems to FILE as JSON",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="do not show the progress bar on stderr"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the check; 0 when the layout has no problem, 1 when it has some."""
    if not args.data_dir.is_dir():
        raise UsageError(f"DATA_DIR {args.data_dir} is not a directory")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be ≥ 1, got {args.workers}")
    report = check_layout(
        args.data_dir, full=args.full, workers=args.workers, progress=not args.no_progress
    )
    print(report.format_text())
    if args.json is not None:
        atomic_write_text(args.json, report.to_json())
    return EXIT_OK if report.ok else EXIT_PROBLEMS
