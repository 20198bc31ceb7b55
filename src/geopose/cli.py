"""The ``geopose`` command: one verb per job (DESIGN.md §6).

Each verb lives in ``geopose.commands.<verb>`` and provides ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int``. Errors derived from
:class:`geopose.errors.GeoposeError` print one line and return their exit code; any
other exception does too, with the traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from geopose import __version__
from geopose.errors import EXIT_ABORTED, EXIT_USAGE, GeoposeError

#: Verb modules under geopose.commands, in the order ``--help`` lists them (a module
#: may name its verb differently: ``export_onnx`` adds ``export-onnx``).
VERBS: tuple[str, ...] = (
    "check",
    "synth",
    "label",
    "buildings",
    "train",
    "evaluate",
    "models",
    "rectify",
    "report",
    "predict",
    "export_onnx",
    "import_weights",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geopose",
        description="Monocular geocentric pose from overhead imagery: height above ground "
        "(AGL, metres) and vertical-flow angle (radians) and scale (pixels per metre).",
    )
    parser.add_argument("--version", action="version", version=f"geopose {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        importlib.import_module(f"geopose.commands.{verb}").register(sub)
    for verb_parser in sub.choices.values():
        if "--debug" in verb_parser._option_string_actions:
            continue  # the verb declared it itself
        verb_parser.add_argument(
            "--debug", action="store_true", help="show the full traceback on errors"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``geopose`` console script; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.func(args))
    except GeoposeError as err:
        if getattr(args, "debug", False):
            raise
        print(f"geopose {args.verb}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"geopose {args.verb}: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except Exception as err:  # one line for the user; the traceback with --debug
        if getattr(args, "debug", False):
            raise
        print(f"geopose {args.verb}: error: {type(err).__name__}: {err}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_ABORTED


if __name__ == "__main__":
    sys.exit(main())
