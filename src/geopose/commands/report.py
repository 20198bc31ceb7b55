"""``geopose report``: write one self-contained report.html about a run and its predictions.

See :mod:`geopose.report` for the sections and where their inputs come from. Prints
the final score (when there is one) and the report's path on stdout; exits 1 when a
prediction could not be scored (its city scores 0; the report is still written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from geopose.errors import EXIT_OK, EXIT_PROBLEMS
from geopose.io.atomic import atomic_write_text
from geopose.report import make_report
from geopose.viz.html import fmt


def register(subparsers: Any) -> None:
    """Add the ``report`` verb."""
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of a run and its predictions",
        description="Write RUN_DIR/report.html (or --out): per-city scores (AGL R², VFLOW "
        "R², angle error in degrees, scale error in px/m), training curves from "
        "metrics.jsonl, predicted vs true angle and scale, AGL error (m) by height bin, "
        "and panels of sample tiles with flow arrows and the ground-level rectified image. "
        "Sections appear when their inputs exist. Images are embedded; no network needed.",
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        metavar="RUN_DIR",
        help="training run folder (config.yaml, metrics.jsonl) or a prediction folder",
    )
    parser.add_argument(
        "--pred",
        type=Path,
        metavar="DIR",
        help="predictions ({id}_AGL.tif uint16 cm + {id}_VFLOW.json px/cm, rad); "
        "default: RUN_DIR when it holds predictions",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="competition layout root with the truth (test_truth/ or train/) and the RGB; "
        "default: the run's data.root from config.yaml",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        metavar="DIR",
        help="folder of truth {id}_AGL.tif + {id}_VFLOW.json (instead of --data)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="HTML file to write (default RUN_DIR/report.html)"
    )
    parser.add_argument(
        "--max-tiles",
        type=int,
        default=6,
        metavar="N",
        help="tiles shown with full panels, taken in turn from each city (default: %(default)s)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the reported scores to this JSON file"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``geopose report``; returns the exit code."""
    res = make_report(
        args.run_dir,
        pred_dir=args.pred,
        data_dir=args.data,
        truth_dir=args.truth,
        out=args.out,
        max_tiles=args.max_tiles,
    )
    if res.scores is not None:
        print(f"final score {fmt(res.scores.get('score'))} ({res.scores_source})")
    print(f"report written to {res.path}")
    if args.json is not None:
        payload = {"report": str(res.path), "scores": res.scores, "source": res.scores_source}
        atomic_write_text(args.json, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    for line in [*res.problems, *res.notes]:
        print(f"geopose report: {line}", file=sys.stderr)
    return EXIT_PROBLEMS if res.problems else EXIT_OK
