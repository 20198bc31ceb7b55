"""``geopose train``: train a model on a competition layout, or resume a run.

    geopose train --data DIR --out RUN [--config FILE.yaml|RECIPE] [key=value ...]
    geopose train --resume RUN [key=value ...]

``--precision``, ``--device`` and ``--threads`` are the options of every verb that runs
a model (:mod:`geopose.commands.common`); here they set ``train.precision``,
``train.device`` and ``train.threads`` (a ``key=value`` override of the same key wins).

Under torchrun (``torchrun --nproc_per_node N -m geopose train ...``) every process runs
this command; rank 0 writes RUN/. Exit codes: 0 finished (or stopped at the time
limit), 2 usage error, 3 the run could not finish (e.g. repeated non-finite losses,
SIGTERM, or another process of a torchrun job died: the survivors say so in one line
each and keep the last checkpoint, so ``--resume RUN`` continues exactly; torchrun
itself then exits 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from geopose.commands.common import add_json_option, add_progress_option, add_runtime_options
from geopose.errors import EXIT_OK, JobAborted, UsageError
from geopose.io.atomic import atomic_write_text
from geopose.training.recipes import run_config

_HELP = "train a model (AGL in metres, flow angle in radians, scale in px/m) or resume a run"


def register(subparsers: Any) -> None:
    """Add the ``train`` verb to the ``geopose`` command."""
    parser = subparsers.add_parser(
        "train",
        help=_HELP,
        description=_HELP,
        epilog="Units of common keys: train.crop_size and train.batch_size in pixels and images "
        "(per process), train.max_steps in optimizer steps, train.time_limit_s in seconds, "
        "optim.lr per process (optim.lr_scaling: none|linear|sqrt with the process count). "
        "Resuming with a larger train.max_steps or train.epochs extends a run; the "
        "learning-rate schedule then spans the new length from the current step. "
        "Exit codes: 0 done, 1 bad data, 2 usage error, 3 the run could not finish.",
    )
    parser.add_argument(
        "--data", metavar="DIR", help="competition layout to train on (sets data.root)"
    )
    parser.add_argument(
        "--out", metavar="RUN", help="run directory to create (config, metrics, checkpoints)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE|RECIPE",
        help="YAML config file, or a shipped recipe name "
        "(tiny, b0-unet, b7-unet, b6-rdtsc-unet, v2l-unet)",
    )
    parser.add_argument(
        "--resume", metavar="RUN", help="continue the run in RUN (overrides may extend it)"
    )
    add_runtime_options(parser, from_config=True)
    add_json_option(parser, "the final figures")
    add_progress_option(parser)
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. train.max_steps=100 optim.lr=3e-4 augment.level=strong",
    )
    parser.set_defaults(func=run)


def _config_and_dir(args: argparse.Namespace) -> tuple[Any, str, bool]:
    from geopose.training.trainer import resume_config

    # The shared runtime options first, so that an explicit key=value override wins.
    overrides = [
        f"train.{key}={value}"
        for key, value in (
            ("precision", args.precision),
            ("device", args.device),
            ("threads", args.threads),
        )
        if value is not None
    ]
    overrides += list(args.overrides)
    if args.resume:
        if args.out or args.config:
            raise UsageError("--resume RUN takes only key=value overrides (no --out or --config)")
        if args.data:
            overrides.append(f"data.root={Path(args.data).resolve()}")
        return resume_config(args.resume, overrides), args.resume, True
    if not args.out:
        raise UsageError("give --out RUN (or --resume RUN)")
    return run_config(args.config, overrides, args.data or None), args.out, False


def run(args: argparse.Namespace) -> int:
    """Run the verb; returns the exit code."""
    from geopose.runtime import leave_group, peer_failure, sigterm_raises
    from geopose.training.trainer import train

    config, out_dir, resume = _config_and_dir(args)
    resume_hint = f"its last checkpoint is kept: resume with `geopose train --resume {out_dir}`"
    try:
        with sigterm_raises(f"{out_dir}: stopped by SIGTERM (under torchrun: another "
                            f"process of the run failed); {resume_hint}"):  # fmt: skip
            result = train(config, out_dir, resume=resume, progress=not args.no_progress)
    except Exception as err:
        if not peer_failure(err):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise JobAborted(
            f"{out_dir}: another process of the run stopped ({first[:200]}); {resume_hint}"
        ) from err
    finally:
        leave_group()
    if result.rank != 0:
        return EXIT_OK  # under torchrun only rank 0 reports
    figures = {
        "run_dir": str(result.run_dir),
        "step": result.step,
        "epoch": result.epoch,
        "stopped": result.stopped,
        "score": result.score,
        "best_score": result.best_score,
        "skipped_steps": result.skipped_steps,
        "seconds": round(result.seconds, 3),
    }
    print(
        f"{result.stopped}: step {result.step}, epoch {result.epoch}, validation score "
        f"{_fmt(result.score)} (best {_fmt(result.best_score)}), skipped steps "
        f"{result.skipped_steps}, {result.seconds:.1f} s; run in {result.run_dir}"
    )
    if args.json:
        atomic_write_text(args.json, json.dumps(figures, indent=2) + "\n")
    sys.stdout.flush()
    return EXIT_OK


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
