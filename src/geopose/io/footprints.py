"""Building footprints: read any vector file GDAL/OGR reads (GeoJSON, GeoPackage,
Shapefile) with fiona; write per-building results as GeoJSON or CSV.

GeoJSON is written in WGS84 longitude/latitude (RFC 7946), the geometry reprojected
when the input had another CRS; the input's attributes are kept, the new fields added
after them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasterio.crs import CRS
from rasterio.warp import transform_geom

from geopose.errors import DataError
from geopose.io.atomic import atomic_write_text

WGS84 = CRS.from_epsg(4326)
#: Output suffixes :func:`write_footprints` knows.
OUTPUT_SUFFIXES = (".geojson", ".json", ".csv")


@dataclass(frozen=True)
class Footprint:
    """One footprint: a GeoJSON-like polygon ``geometry`` and its ``properties``."""

    geometry: Mapping[str, Any]
    properties: Mapping[str, Any]


def read_footprints(path: str | Path) -> tuple[list[Footprint], CRS]:
    """The polygons of a vector file and their CRS (WGS84 when the file states none).

    Raises :class:`DataError` naming the file when it cannot be read or holds a
    geometry that is not a (multi)polygon.
    """
    import fiona  # imported here: only the buildings verb needs it

    p = Path(path)
    if not p.exists():
        raise DataError(p, "file not found")
    out: list[Footprint] = []
    try:
        with fiona.open(p) as src:
            crs = CRS.from_wkt(src.crs.to_wkt()) if src.crs else WGS84
            for i, feature in enumerate(src):
                geom = feature.geometry
                if geom is None:
                    raise DataError(p, f"feature {i} has no geometry")
                kind = geom["type"]
                if kind not in ("Polygon", "MultiPolygon"):
                    raise DataError(p, f"feature {i} is a {kind}, not a footprint polygon")
                out.append(Footprint(
                    {"type": kind, "coordinates": geom["coordinates"]},
                    dict(feature.properties or {}),
                ))  # fmt: skip
    except fiona.errors.FionaError as err:
        raise DataError(p, f"cannot read footprints: {' '.join(str(err).split())}") from None
    return out, crs


def _plain(value: Any) -> Any:
    """JSON/CSV-friendly form of an attribute value."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def write_footprints(
    path: str | Path,
    footprints: Sequence[Footprint],
    crs: CRS,
    extra: Sequence[Mapping[str, Any]],
) -> None:
    """Write footprints with their attributes plus ``extra`` (one mapping per footprint)
    as GeoJSON (``.geojson``/``.json``, WGS84) or CSV (``.csv``, attributes only)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"{p}: output must end in one of {', '.join(OUTPUT_SUFFIXES)}")
    rows = [
        {**{k: _plain(v) for k, v in fp.properties.items()}, **dict(more)}
        for fp, more in zip(footprints, extra, strict=True)
    ]
    if suffix == ".csv":
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
        atomic_write_text(p, buf.getvalue())
        return
    features = []
    for fp, row in zip(footprints, rows, strict=True):
        geom = dict(fp.geometry) if crs == WGS84 else transform_geom(crs, WGS84, fp.geometry)
        features.append({"type": "Feature", "properties": row, "geometry": geom})
    payload = {"type": "FeatureCollection", "features": features}
    atomic_write_text(p, json.dumps(payload) + "\n")
