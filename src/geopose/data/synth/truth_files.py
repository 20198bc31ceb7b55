"""Files of ``geopose synth --export-truth``: each tile's nDSM, view and footprints.

Per tile ``{id}`` under ``OUT/truth/``:

- ``{id}_NDSM.tif``: float32 metres, the orthographic surface heights (ground 0) over
  the tile and every margin its rays reach, georeferenced (EPSG:32617, north-up);
- ``{id}_VIEW.json``: ``elevation_deg`` and ``azimuth_deg`` of the satellite (azimuth
  clockwise from north, seen from the ground, as WorldView's MEANSATAZ), and for
  reference the ``gsd`` (m/px), ``angle`` (rad) and ``scale`` (px/m) of the tile;
- ``{id}_BUILDINGS.geojson``: the building footprints touching the nDSM, WGS84
  longitude/latitude (RFC 7946), with ``eave_m``, ``rise_m`` and ``top_m``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform

from geopose.conventions import scale_from_elevation
from geopose.data.synth.scene import Poly
from geopose.data.synth.truth import SYNTH_CRS, SynthTruth, tile_geo, to_crs
from geopose.io.atomic import atomic_write_text
from geopose.io.raster import GeoInfo, write_float

TRUTH_DIR = "truth"


def truth_geo(truth: SynthTruth, origin: tuple[float, float]) -> GeoInfo:
    """Georeferencing of a grid of the tile's GSD whose top-left corner is at ``origin`` (m)."""
    wkt = CRS.from_string(SYNTH_CRS).to_wkt()
    return GeoInfo(crs=wkt, transform=tile_geo(origin, truth.gsd, truth.extent))


def _lonlat_ring(points: Poly, extent: float) -> list[list[float]]:
    xy = to_crs(points, extent)
    lon, lat = warp_transform(SYNTH_CRS, "EPSG:4326", xy[:, 0].tolist(), xy[:, 1].tolist())
    ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    return [*ring, ring[0]]


def footprints_geojson(truth: SynthTruth) -> dict[str, Any]:
    """The tile's building footprints as a GeoJSON FeatureCollection (WGS84 lon/lat)."""
    features = []
    for i, fp in enumerate(truth.footprints):
        rings = [_lonlat_ring(fp.ring, truth.extent)]
        if fp.hole is not None:
            rings.append(_lonlat_ring(fp.hole, truth.extent))
        features.append({
            "type": "Feature",
            "properties": {"building": i, "eave_m": fp.eave, "rise_m": fp.rise, "top_m": fp.top},
            "geometry": {"type": "Polygon", "coordinates": rings},
        })  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def write_truth(root: str | Path, image_id: str, truth: SynthTruth) -> list[Path]:
    """Write the three truth files of one tile under ``root/truth``; returns their paths."""
    folder = Path(root) / TRUTH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ndsm = folder / f"{image_id}_NDSM.tif"
    write_float(ndsm, truth.height, geo=truth_geo(truth, truth.window_origin))
    view = folder / f"{image_id}_VIEW.json"
    payload = {
        "elevation_deg": truth.elevation_deg,
        "azimuth_deg": truth.azimuth_deg,
        "gsd": truth.gsd,
        "angle": truth.angle,
        "scale": float(scale_from_elevation(truth.elevation, truth.gsd)),
    }
    atomic_write_text(view, json.dumps(payload, indent=2) + "\n")
    buildings = folder / f"{image_id}_BUILDINGS.geojson"
    atomic_write_text(buildings, json.dumps(footprints_geojson(truth)) + "\n")
    return [ndsm, view, buildings]
