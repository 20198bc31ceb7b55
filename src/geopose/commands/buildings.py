"""``geopose buildings``: height statistics per building footprint from an AGL map."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from geopose.buildings import STAT_FIELDS, building_heights, ground_agl
from geopose.errors import EXIT_OK, DataError, UsageError
from geopose.io import read_agl, read_vflow
from geopose.io.atomic import atomic_write_text
from geopose.io.footprints import OUTPUT_SUFFIXES, read_footprints, write_footprints
from geopose.io.layout import image_stem, vflow_name


def register(subparsers: Any) -> None:
    """Add the ``buildings`` verb."""
    p = subparsers.add_parser(
        "buildings",
        help="per-building heights (median, p90, max) from an AGL map and footprints",
        description="Rectify a (predicted or true) AGL map to ground level with its VFLOW "
        "scale and angle, so roofs sit on their footprints, then give each footprint "
        "(any CRS) the median, 90th percentile and max height (m) of the pixels inside it "
        "and the share of them with a height (valid_fraction). The input's attributes are "
        "kept. Output: GeoJSON (WGS84) or CSV, by the --out suffix.",
    )
    p.add_argument("--pred", required=True, type=Path, metavar="AGL",
                   help="georeferenced AGL GeoTIFF ({id}_AGL.tif; see --agl-unit)")  # fmt: skip
    p.add_argument("--vflow", type=Path, metavar="JSON",
                   help="its VFLOW JSON (default: {id}_VFLOW.json beside the AGL)")  # fmt: skip
    p.add_argument("--footprints", required=True, type=Path, metavar="FILE",
                   help="footprint polygons: GeoJSON, GeoPackage, Shapefile (any CRS)")  # fmt: skip
    p.add_argument("--out", required=True, type=Path, metavar="FILE",
                   help="output .geojson / .json (WGS84) or .csv")  # fmt: skip
    p.add_argument("--agl-unit", choices=("cm", "m"), default="cm",
                   help="AGL file unit: uint16 cm (geopose, competition) or float m "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="write a summary (buildings, with heights, median of medians) "
                   "as JSON")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the per-building table; print a short summary."""
    if args.out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"--out must end in one of {', '.join(OUTPUT_SUFFIXES)}")
    vflow = args.vflow or args.pred.with_name(vflow_name(image_stem(args.pred)))
    scale, angle = read_vflow(vflow)
    agl = read_agl(args.pred, unit=args.agl_unit)
    with rasterio.open(args.pred) as ds:
        if ds.crs is None or ds.transform.is_identity:
            raise DataError(args.pred, "the AGL map has no CRS and transform to place "
                            "footprints on")  # fmt: skip
        crs, transform = ds.crs, ds.transform
    footprints, fp_crs = read_footprints(args.footprints)
    stats = building_heights(ground_agl(agl, scale, angle), transform, crs, footprints, fp_crs)
    write_footprints(args.out, footprints, fp_crs, stats)
    inside = [s for s in stats if s["pixels"]]
    medians = [float(m) for m in (s["height_median_m"] for s in inside) if m is not None]
    middle = float(np.median(medians)) if medians else float("nan")
    print(f"{len(footprints)} footprints, {len(inside)} on the AGL map, {len(medians)} with "
          f"heights (median of medians {middle:.2f} m) -> {args.out}")  # fmt: skip
    if args.json:
        payload = {"footprints": len(footprints), "on_map": len(inside),
                   "with_heights": len(medians), "median_of_medians_m": middle,
                   "fields": list(STAT_FIELDS), "out": str(args.out)}  # fmt: skip
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return EXIT_OK
