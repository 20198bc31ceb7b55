"""``geopose export-onnx``: write a checkpoint's model as an ONNX file and check it.

The graph takes ``image`` (B×3×H×W float RGB in [0, 1], any batch, H and W any
multiples of 32 up to ``--max-size``) and ``gsd`` (B, m/px) and
returns ``agl`` (m), ``mag`` (px), ``scale`` (px/m), ``direction`` and ``angle`` (rad).
After export the file is run once in ONNX Runtime on a random tile and compared with
PyTorch; a difference above ``--tolerance`` (absolute up to 1, relative above: see
:func:`geopose.export.compare_onnx`) makes the exit code 1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from geopose.errors import EXIT_OK, EXIT_PROBLEMS
from geopose.io.atomic import atomic_write_text


def register(subparsers: Any) -> None:
    """Add the ``export-onnx`` verb."""
    parser = subparsers.add_parser(
        "export-onnx",
        help="export a checkpoint's model to ONNX",
        description="Export the model of a checkpoint to ONNX (inputs image B×3×H×W RGB in "
        "[0, 1] and gsd B m/px; outputs agl m, mag px, scale px/m, direction, angle rad) "
        "and compare ONNX Runtime with PyTorch on a random tile.",
    )
    parser.add_argument("checkpoint", type=Path, metavar="CKPT", help="checkpoint (.safetensors)")
    parser.add_argument("out", type=Path, metavar="OUT.onnx", help="ONNX file to write")
    parser.add_argument(
        "--size",
        type=int,
        default=512,
        metavar="PX",
        help="tile side traced and checked, a multiple of 32 (default: %(default)s); the "
        "file takes any tile whose sides are multiples of 32 up to --max-size (models "
        "that resize their input keep this size)",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=4096,
        metavar="PX",
        help="largest tile side the file takes, px (default: %(default)s)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest accepted |ONNX − PyTorch| / max(1, |PyTorch|) per output "
        "(default: %(default)s)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the differences as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export, check, report; returns the exit code."""
    from geopose.export import compare_onnx, export_model
    from geopose.inference.load_model import load_model

    model = load_model(args.checkpoint)
    export_model(model, args.out, height=args.size, max_size=args.max_size)
    rng = np.random.default_rng(0)
    image = rng.random((1, 3, args.size, args.size), dtype=np.float32)
    diffs = compare_onnx(model, args.out, image, np.array([0.35], dtype=np.float32))
    worst = max(d["scaled"] for d in diffs.values())
    print(
        f"wrote {args.out}; largest |ONNX − PyTorch| / max(1, |PyTorch|) {worst:.2e} "
        f"({args.size} px tile)"
    )
    for key, d in diffs.items():
        print(f"  {key}: abs {d['abs']:.2e}, scaled {d['scaled']:.2e}")
    if args.json is not None:
        payload = {"onnx": str(args.out), "size": args.size, "differences": diffs}
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return EXIT_OK if worst <= args.tolerance else EXIT_PROBLEMS
