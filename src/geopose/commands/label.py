"""``geopose label``: one training tile from an image, elevation data and the view.

Writes the tile into a competition layout (``--out``), ready for ``check``, ``train``
and ``evaluate``: the image as ``train/{id}_RGB.tif``, the image-space AGL as
``train/{id}_AGL.tif`` (uint16 cm, 65535 no data; both with the image's CRS and
transform), ``train/{id}_VFLOW.json`` and rows in ``geopose_train.csv`` and
``metadata.csv`` (with the GSD).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from geopose.conventions import scale_to_file
from geopose.errors import EXIT_OK, DataError, UsageError
from geopose.io.add_tile import add_train_tile
from geopose.io.atomic import atomic_write_text
from geopose.io.layout import city_of, image_stem
from geopose.io.raster import read_rgb
from geopose.label.heights import RESAMPLING
from geopose.label.tile import VIEW_RPC, label_image


def register(subparsers: Any) -> None:
    """Add the ``label`` verb."""
    p = subparsers.add_parser(
        "label",
        help="make a training tile from an image, an nDSM (or DSM + DTM) and the view",
        description="Make the labels of one georeferenced (orthorectified) image: the "
        "elevation rasters (any CRS, resolution, extent; metres) are reprojected to the "
        "image's ground grid, and every surface point is moved by its height × scale along "
        "the flow, the highest point seen at a pixel winning (the synthetic renderer's ray "
        "rule). Scale (px/m) = cot(elevation) / GSD; for a north-up image the angle is "
        "180° − azimuth (the flow, roof → footprint, points towards the satellite). Writes "
        "the tile into the competition layout OUT.",
    )
    p.add_argument("--image", required=True, type=Path, metavar="RGB",
                   help="georeferenced 8-bit RGB image (GeoTIFF, JPEG 2000)")  # fmt: skip
    heights = p.add_argument_group("heights (metres; give --ndsm, or --dsm and --dtm)")
    heights.add_argument("--ndsm", type=Path, metavar="TIF",
                         help="normalised DSM: height above ground (m)")  # fmt: skip
    heights.add_argument("--dsm", type=Path, metavar="TIF", help="surface model (m)")
    heights.add_argument("--dtm", type=Path, metavar="TIF", help="terrain model (m)")
    heights.add_argument("--resampling", choices=RESAMPLING, default="nearest",
                         help="resampling of the elevation rasters "
                         "(default: %(default)s)")  # fmt: skip
    view = p.add_argument_group("view (give --elevation and --azimuth, or --view)")
    view.add_argument("--elevation", type=float, metavar="DEG",
                      help="satellite elevation above the horizon (degrees)")  # fmt: skip
    view.add_argument("--azimuth", type=float, metavar="DEG",
                      help="satellite azimuth seen from the ground, degrees clockwise from "
                      "north (WorldView's MEANSATAZ)")  # fmt: skip
    view.add_argument("--view", metavar="METADATA",
                      help="WorldView .IMD/.XML file (MEANSATEL, MEANSATAZ), or 'rpc' for "
                      "the image's RPC model (GeoTIFF tags, .RPB, _RPC.TXT)")  # fmt: skip
    p.add_argument("--out", required=True, type=Path, metavar="DATA",
                   help="layout folder to add the tile to (created)")  # fmt: skip
    p.add_argument("--city", metavar="NAME",
                   help="city code (default: the --id's prefix before '_')")  # fmt: skip
    p.add_argument("--id", dest="image_id", metavar="ID",
                   help="tile id, CITY_rest (default: CITY_ + the image's stem)")  # fmt: skip
    p.add_argument("--group", metavar="NAME",
                   help="location group for leak-free folds (metadata.csv)")  # fmt: skip
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="write the labels' figures (angle, scale, GSD, view source) "
                   "as JSON")  # fmt: skip
    p.set_defaults(func=run)


def _tile_id(args: argparse.Namespace) -> tuple[str, str]:
    """(id, city) from --id / --city / the image name."""
    stem = args.image_id or image_stem(args.image)
    city = args.city or (city_of(stem) if args.image_id else "")
    if not city:
        raise UsageError("give --city, or an --id of the form CITY_rest")
    if "_" in city or not city.strip():
        raise UsageError(f"--city {city!r}: a city code has no '_'")
    image_id = stem if stem.startswith(f"{city}_") else f"{city}_{stem}"
    return image_id, city


def run(args: argparse.Namespace) -> int:
    """Label one image; print the angle, scale, GSD and where the view came from."""
    if args.ndsm is None and (args.dsm is None or args.dtm is None):
        raise UsageError("give --ndsm, or both --dsm and --dtm")
    if args.ndsm is not None and (args.dsm is not None or args.dtm is not None):
        raise UsageError("give --ndsm or --dsm/--dtm, not both")
    angles = (args.elevation is not None, args.azimuth is not None)
    if angles[0] != angles[1]:
        raise UsageError("give both --elevation and --azimuth")
    if angles[0] == (args.view is not None):
        raise UsageError("give either --elevation and --azimuth, or --view METADATA|rpc")
    image_id, city = _tile_id(args)
    view_arg = VIEW_RPC if str(args.view).lower() == VIEW_RPC else args.view
    try:
        label = label_image(
            args.image, ndsm=args.ndsm, dsm=args.dsm, dtm=args.dtm, elevation=args.elevation,
            azimuth=args.azimuth, view=view_arg, resampling=args.resampling,
        )  # fmt: skip
    except ValueError as err:
        raise UsageError(str(err)) from None
    rgb = read_rgb(args.image)
    if rgb.shape[:2] != label.agl.shape:
        raise DataError(args.image, "image size disagrees with its own grid")
    v = label.view
    files = add_train_tile(
        args.out, image_id, city, v.gsd, rgb, label.agl, v.scale, v.angle,
        geo=label.grid.geo, group=args.group,
    )  # fmt: skip
    valid = float(np.isfinite(label.agl).mean())
    print(f"{image_id}: angle {math.degrees(v.angle):.2f}° ({v.angle:.4f} rad), "
          f"scale {v.scale:.4f} px/m ({scale_to_file(v.scale):.6f} px/cm), "
          f"GSD {v.gsd:.4f} m/px")  # fmt: skip
    print(f"  view: elevation {v.elevation:.2f}°, azimuth {v.azimuth:.2f}° from {v.source}")
    print(f"  AGL: {valid:.1%} of pixels labelled, max {np.nanmax(label.agl) if valid else 0:.1f} m"
          f" -> {files.agl}")  # fmt: skip
    if args.json:
        payload = {
            "id": image_id, "city": city, "angle_rad": v.angle,
            "angle_deg": math.degrees(v.angle), "scale_px_per_m": v.scale,
            "scale_px_per_cm": scale_to_file(v.scale), "gsd_m": v.gsd,
            "elevation_deg": v.elevation, "azimuth_deg": v.azimuth, "view_source": v.source,
            "valid_fraction": valid,
            "files": {"rgb": str(files.rgb), "agl": str(files.agl), "vflow": str(files.vflow)},
        }  # fmt: skip
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return EXIT_OK
