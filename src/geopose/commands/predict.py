"""``geopose predict``: submission files for a layout split, or a prediction for one raster.

Layout mode (``--data DIR``) writes ``{id}_AGL.tif`` (uint16 cm) and ``{id}_VFLOW.json``
(scale px/cm, angle rad) for every image of the split into ``--out``, plus
``manifest.json``; ``--tar`` also packs ``submission.tar.gz``. A rerun skips outputs
that are complete and were made with the same checkpoints and settings; an unreadable
image is named and skipped, and the exit code is then 1. Raster mode (``--image FILE
[--gsd G]``) predicts one image of any size with sliding windows and writes a GeoTIFF
AGL with the input's CRS and transform plus the VFLOW JSON; without ``--gsd`` the GSD
is read from the raster's metric CRS and transform (and printed). ``--rectify`` also writes
ground-level images (``geopose rectify``) into ``OUT/rectified/``.

Under ``torchrun --nproc_per_node N -m geopose predict …`` the images are shared out
over the processes (one GPU each).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geopose.commands.common import (
    add_json_option,
    add_progress_option,
    add_runtime_options,
)
from geopose.errors import EXIT_OK, EXIT_PROBLEMS, UsageError
from geopose.io.atomic import atomic_write_text
from geopose.io.layout import SPLITS

if TYPE_CHECKING:
    from geopose.inference.layout import LayoutSummary
    from geopose.inference.options import PredictOptions
    from geopose.runtime import Runtime

#: Choices of --tta (equal to geopose.inference.tta.TTA_MODES; spelled out so that
#: ``geopose --help`` need not import torch).
TTA_CHOICES = ("none", "flip", "d2", "d4")


def register(subparsers: Any) -> None:
    """Add the ``predict`` verb."""
    parser = subparsers.add_parser(
        "predict",
        help="predict AGL, angle and scale: submission files or one raster",
        description="Predict per-pixel height above ground (AGL, m; written as uint16 cm) "
        "and the vertical-flow angle (rad) and scale (written in px/cm) with one or more "
        "checkpoints (an ensemble), test-time augmentation and mixed precision.",
    )
    parser.add_argument(
        "--checkpoint",
        nargs="+",
        required=True,
        type=Path,
        metavar="CKPT",
        help="checkpoint(s) (.safetensors); several form an ensemble",
    )
    parser.add_argument(
        "--weights",
        nargs="+",
        type=float,
        metavar="W",
        help="ensemble weight of each checkpoint (default: equal)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, metavar="DIR", help="competition layout folder")
    source.add_argument(
        "--image", type=Path, metavar="FILE", help="one RGB raster of any size (GeoTIFF, j2k, png)"
    )
    parser.add_argument(
        "--gsd",
        type=float,
        metavar="M",
        help="ground sample distance of --image, metres per pixel (default: read from the "
        "raster's projected CRS and transform; required when it has none)",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument(
        "--split", default="test", choices=SPLITS, help="layout split (default: %(default)s)"
    )
    parser.add_argument(
        "--tta",
        default="d4",
        choices=TTA_CHOICES,
        help="test-time augmentation: none, flip (2 views), d2 (4), d4 (8) (default: %(default)s)",
    )
    add_runtime_options(parser)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        metavar="N",
        help="tiles or windows per forward pass, each with all its TTA views (default: 1)",
    )
    parser.add_argument(
        "--max-views-batch",
        type=int,
        metavar="N",
        help="at most N images per forward pass (views × tiles) to save memory",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "onnx"),
        help="what runs the network: torch, onnx (ONNX Runtime: CPU, fp32; the network is "
        "exported once and cached in $GEOPOSE_CACHE or ~/.cache/geopose) or auto (onnx on "
        "a CPU at fp32 when onnxruntime is installed, else torch) (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=2048,
        metavar="PX",
        help="sliding-window size in pixels; smaller images run in one pass (default: %(default)s)",
    )
    parser.add_argument(
        "--overlap",
        type=int,
        default=256,
        metavar="PX",
        help="overlap of sliding windows in pixels, blended with a cosine ramp "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--shrink-flow",
        action="store_true",
        help="multiply each scale by the agreement (0-1) of the TTA views' directions: "
        "the flow with the least expected error under the official metric when the "
        "direction is uncertain; the scale is then not the physical lean",
    )
    parser.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write {id}_AGL_SPREAD.tif (float32 m: the standard deviation of AGL "
        "across the TTA views and ensemble members, on the AGL's grid) and "
        "{id}_SPREAD.json (the angle's spread in degrees: circular standard deviation of "
        "the views' directions, and the mean and p90 AGL spread)",
    )
    parser.add_argument("--tar", action="store_true", help="also write OUT/submission.tar.gz")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs made with other checkpoints or settings",
    )
    parser.add_argument(
        "--rectify",
        action="store_true",
        help="also write ground-level RGB and AGL of every image into OUT/rectified/",
    )
    add_json_option(parser, "a summary")
    add_progress_option(parser)
    parser.set_defaults(func=run)


def options_from(args: argparse.Namespace) -> PredictOptions:
    """PredictOptions from the parsed command line."""
    from geopose.inference.options import PredictOptions

    return PredictOptions(
        tta=args.tta,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        batch_size=args.batch_size,
        weights=tuple(args.weights) if args.weights else None,
        window=args.window,
        overlap=args.overlap,
        max_views_batch=args.max_views_batch,
        shrink_flow=args.shrink_flow,
        uncertainty=args.uncertainty,
        backend=args.backend,
    )


def run(args: argparse.Namespace) -> int:
    """Run the verb; returns the exit code."""
    from geopose.inference.layout import predict_layout

    options = options_from(args)
    if args.image is None and args.gsd is not None:
        raise UsageError("--gsd is for --image; a layout's GSD comes from its metadata.csv")
    runtime = options.runtime()  # device, precision and threads: resolved here, once
    if args.image is not None:
        return _run_raster(args, options, runtime)
    summary = predict_layout(
        args.checkpoint,
        args.data,
        args.out,
        split=args.split,
        options=options,
        tar=args.tar,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        runtime=runtime,
    )
    if args.rectify:
        _rectify_layout(args, summary)
    _report_layout(summary, runtime.rank, runtime.world_size)
    if args.json is not None and runtime.is_main:
        atomic_write_text(args.json, json.dumps(summary.as_dict(), indent=2) + "\n")
    return EXIT_PROBLEMS if summary.failed else EXIT_OK


def _report_layout(summary: LayoutSummary, rank: int, world: int) -> None:
    who = f"rank {rank}/{world}: " if world > 1 else ""
    print(
        f"{who}wrote {len(summary.written)} prediction(s) to {summary.out} "
        f"({summary.tiles_per_s:.2f} tiles/s), {len(summary.already_complete)} already complete"
    )
    if summary.tar is not None:
        print(f"submission archive: {summary.tar}")
    if summary.failed:
        print(f"{who}skipped {len(summary.failed)} image(s):")
        for image_id, problem in sorted(summary.failed.items()):
            print(f"  {image_id}: {problem}")


def _run_raster(args: argparse.Namespace, options: PredictOptions, runtime: Runtime) -> int:
    if args.tar:
        raise UsageError("--tar is for --data layouts")
    from geopose.inference.raster import predict_raster

    summary = predict_raster(
        args.checkpoint,
        args.image,
        args.gsd,
        args.out,
        options=options,
        progress=not args.no_progress,
        runtime=runtime,
    )
    r = summary.result
    if summary.gsd_from_crs:
        print(f"{args.image}: GSD {summary.gsd:.4g} m/px, read from its CRS and transform")
    print(
        f"{args.image}: {r.height}×{r.width} px in {len(r.windows)} window(s), "
        f"scale {r.scale:.4f} px/m, angle {r.angle:.4f} rad; wrote {summary.agl} and "
        f"{summary.vflow} ({summary.seconds:.1f} s)"
    )
    if args.rectify:
        _rectify_one(args.image, summary.agl, summary.vflow, args.out / "rectified")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(summary.as_dict(), indent=2) + "\n")
    return EXIT_OK


def _rectify_layout(args: argparse.Namespace, summary: LayoutSummary) -> None:
    from geopose.io.catalog import scan_layout
    from geopose.io.layout import agl_name, vflow_name

    mine = set(summary.written) | set(summary.already_complete)  # this rank's ids
    for entry in scan_layout(args.data).layout.entries(args.split):
        if entry.id not in mine:
            continue
        agl, vflow = summary.out / agl_name(entry.id), summary.out / vflow_name(entry.id)
        if agl.is_file() and vflow.is_file():
            _rectify_one(entry.rgb, agl, vflow, summary.out / "rectified")


def _rectify_one(image: Path, agl: Path, vflow: Path, out: Path) -> None:
    """Rectify one predicted image (the whole raster in memory)."""
    from geopose.io import read_agl, read_rgb, read_vflow
    from geopose.io.layout import image_stem
    from geopose.io.raster import first_georeferenced
    from geopose.io.rectified import write_rectified
    from geopose.rectification import rectify

    scale, angle = read_vflow(vflow)
    r = rectify(read_rgb(image), read_agl(agl), scale, angle)
    geo = first_georeferenced(agl, image)
    write_rectified(out, image_stem(image), r.image, r.agl, r.occluded, r.filled, geo=geo)
    print(f"rectified {image.name} → {out}", file=sys.stderr)
