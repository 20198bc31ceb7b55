"""``geopose rectify``: write the ground-level RGB and AGL of one oblique image.

Reads the image, its AGL map and its VFLOW JSON (scale, angle), moves every pixel by
its vertical flow with :func:`geopose.rectification.rectify`, and writes into ``--out`` the
files of :mod:`geopose.io.rectified` (occluded pixels in ``--fill-color``).

``stem`` is the image id (``JAX_001`` for ``JAX_001_RGB.j2k``) or else the image file's
stem. The rasters carry the CRS and transform of the AGL file (or else of the image):
the output is in the input's pixel grid. Every write is atomic.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from geopose.errors import EXIT_OK, UsageError
from geopose.io import read_agl, read_rgb, read_vflow
from geopose.io.atomic import atomic_write_text
from geopose.io.layout import image_stem
from geopose.io.raster import check_agl_size, first_georeferenced
from geopose.io.rectified import FORMATS, write_rectified
from geopose.rectification import RectifyResult, rectify


def register(subparsers: Any) -> None:
    """Add the ``rectify`` verb."""
    parser = subparsers.add_parser(
        "rectify",
        help="move an oblique image and its AGL to ground level",
        description="Move every pixel of an oblique image by its vertical flow "
        "(AGL m × scale px/m along the angle) to its ground footprint: the taller point "
        "wins where several land, gaps up to --max-hole px are filled from the lowest "
        "neighbour, wider ones are marked occluded. Writes {stem}_RGB_rectified, "
        "{stem}_AGL_rectified.tif (uint16 cm) and {stem}_occluded.png / _filled.png.",
    )
    parser.add_argument(
        "--image", required=True, type=Path, metavar="RGB", help="RGB image (.j2k/.tif/.png)"
    )
    parser.add_argument(
        "--agl", required=True, type=Path, metavar="AGL", help="AGL GeoTIFF (see --agl-unit)"
    )
    parser.add_argument(
        "--vflow",
        required=True,
        type=Path,
        metavar="JSON",
        help="VFLOW JSON with 'scale' (px/cm) and 'angle' (rad)",
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="output folder (created)"
    )
    parser.add_argument(
        "--agl-unit",
        choices=("cm", "m"),
        default="cm",
        help="AGL file unit: uint16 centimetres (competition) or float metres "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-hole",
        type=int,
        default=2,
        metavar="PX",
        help="fill gaps up to this many pixels wide; wider ones are occluded "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--fill-color",
        default="0,0,0",
        metavar="R,G,B",
        help="colour of occluded pixels, 0–255 each (default: %(default)s)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="tif",
        help="rectified RGB file format (default: %(default)s)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the figures to this JSON file"
    )
    parser.set_defaults(func=run)


def parse_color(text: str) -> tuple[int, int, int]:
    """``"R,G,B"`` (0–255 each) → a tuple; a bad value is a usage error."""
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise UsageError(f"--fill-color must be R,G,B with 0–255 each, got {text!r}")
    return values[0], values[1], values[2]


def figures(result: RectifyResult, scale: float, angle: float) -> dict[str, Any]:
    """Counts and fractions of the rectified pixels (for stdout and --json)."""
    total = int(result.occluded.size)
    occluded, filled = int(result.occluded.sum()), int(result.filled.sum())
    return {
        "height": int(result.agl.shape[0]),
        "width": int(result.agl.shape[1]),
        "scale_px_per_m": scale,
        "angle_rad": angle,
        "landed_px": total - occluded - filled,
        "filled_px": filled,
        "occluded_px": occluded,
        "filled_fraction": filled / total,
        "occluded_fraction": occluded / total,
    }


def run(args: argparse.Namespace) -> int:
    """Run ``geopose rectify``; returns the exit code."""
    if args.max_hole < 0:
        raise UsageError(f"--max-hole must be ≥ 0 px, got {args.max_hole}")
    fill = parse_color(args.fill_color)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    image = read_rgb(args.image)
    agl = read_agl(args.agl, unit=args.agl_unit)
    check_agl_size(agl.shape, image.shape, args.agl, args.image)
    scale, angle = read_vflow(args.vflow)
    result = rectify(image, agl, scale, angle, max_hole=args.max_hole, fill_color=fill)
    paths = write_rectified(
        args.out,
        image_stem(args.image),
        result.image,
        result.agl,
        result.occluded,
        result.filled,
        geo=first_georeferenced(args.agl, args.image),
        fmt=args.format,
    )
    report = figures(result, scale, angle)
    report["outputs"] = {role: str(path) for role, path in paths.items()}
    print(
        f"rectified {report['height']}×{report['width']} px (scale {scale:.4g} px/m, "
        f"angle {angle:.4g} rad): {report['landed_px']} landed, {report['filled_px']} filled, "
        f"{report['occluded_px']} occluded ({100 * report['occluded_fraction']:.2f} %)"
    )
    for path in paths.values():
        print(f"wrote {path}")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(report, indent=2))
    return EXIT_OK
