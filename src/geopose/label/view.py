"""The view geometry of an image: from the satellite's angles, WorldView metadata or RPCs.

A satellite seen from the ground at azimuth ``az`` (degrees clockwise from true north,
as WorldView's ``MEANSATAZ``) and elevation ``el`` images a point ``h`` metres high
``h · cot(el)`` metres *away* from the satellite on the ground. The vertical flow (roof →
footprint, DESIGN.md §1) therefore points *towards* the satellite: on the ground the unit
vector ``u = (sin az, cos az)`` (east, north), ``cot(el)`` metres per metre of height.
:meth:`GroundGrid.pixels_per_metre` turns it into pixels of the image grid, so for a
north-up image θ = 180° − az and scale = cot(el) / GSD; any other grid (rotated, flipped,
geographic, off a UTM zone's central meridian) gets its exact local equivalent.

An RPC model (rasterio reads it from the image: GeoTIFF tags, ``.RPB`` or ``_RPC.TXT``)
gives the same two angles: a ground point projected at two heights lands on two image
pixels; the ray of the upper one meets the lower height ``cot(el)·Δh`` metres away from
the point, in the direction away from the satellite.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.rpc import RPC
from rasterio.transform import RPCTransformer

from geopose.conventions import direction_to_angle
from geopose.errors import DataError
from geopose.label.grid import GroundGrid, metres_per_degree

#: Height step (m) between the two projections of the RPC view.
RPC_STEP_M = 100.0


@dataclass(frozen=True)
class ImageView:
    """The flow labels of one image and where they came from.

    ``scale`` px/m, ``angle`` rad (DESIGN.md §1), ``gsd`` m/px, satellite ``elevation``
    and ``azimuth`` in degrees (azimuth clockwise from true north, seen from the ground),
    ``source`` a phrase naming what gave the angles.
    """

    scale: float
    angle: float
    gsd: float
    elevation: float
    azimuth: float
    source: str


def view_from_angles(
    grid: GroundGrid, elevation_deg: float, azimuth_deg: float, source: str = "flags"
) -> ImageView:
    """Flow angle and scale of ``grid`` seen from a satellite at these angles (degrees)."""
    if not (math.isfinite(elevation_deg) and 0 < elevation_deg <= 90):
        raise ValueError(f"satellite elevation must be in (0, 90] degrees, got {elevation_deg}")
    if not math.isfinite(azimuth_deg):
        raise ValueError(f"satellite azimuth must be a finite number of degrees, got {azimuth_deg}")
    az = math.radians(azimuth_deg)
    towards = np.array([math.sin(az), math.cos(az)])  # (east, north) unit vector
    lean = 1.0 / math.tan(math.radians(elevation_deg))  # m of lean per m of height
    flow = grid.pixels_per_metre() @ towards * lean  # (col, row) px per m of height
    scale = float(np.hypot(flow[0], flow[1]))
    # At nadir the direction is undefined; keep the one the azimuth gives.
    direction = flow if scale > 0 else grid.pixels_per_metre() @ towards
    angle = float(direction_to_angle(float(direction[0]), float(direction[1])))
    return ImageView(scale, angle, grid.gsd, float(elevation_deg), float(azimuth_deg) % 360.0,
                     source)  # fmt: skip


_WV_KEY = re.compile(r"meanSat(El|Az)\s*(?:=|>)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)",
                     re.IGNORECASE)  # fmt: skip


def read_worldview_angles(path: str | Path) -> tuple[float, float]:
    """(MEANSATEL, MEANSATAZ) in degrees from a WorldView ``.IMD`` or ``.XML`` file.

    ``.IMD`` holds ``meanSatEl = 62.1;``, the ``.XML`` ``<MEANSATEL>62.1</MEANSATEL>``;
    the first value of each is used (the image's mean over its lines).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise DataError(p, "file not found") from None
    except OSError as err:
        raise DataError(p, f"cannot read: {err}") from None
    found: dict[str, float] = {}
    for key, value in _WV_KEY.findall(text):
        found.setdefault(key.lower(), float(value))
    missing = [k for k in ("el", "az") if k not in found]
    if missing:
        names = " and ".join(f"MEANSAT{k.upper()}" for k in missing)
        raise DataError(p, f"no {names} in this metadata file (WorldView .IMD/.XML expected)")
    return found["el"], found["az"]


def view_from_worldview(grid: GroundGrid, path: str | Path) -> ImageView:
    """The view from a WorldView ``.IMD``/``.XML`` file's mean satellite angles."""
    el, az = read_worldview_angles(path)
    try:
        return view_from_angles(grid, el, az, f"WorldView metadata {Path(path).name} "
                                              "(MEANSATEL, MEANSATAZ)")  # fmt: skip
    except ValueError as err:
        raise DataError(Path(path), str(err)) from None


def angles_from_rpc(rpcs: RPC, lon: float, lat: float) -> tuple[float, float]:
    """(elevation, azimuth) in degrees of the satellite over (lon, lat) from an RPC model.

    The point is projected at the model's height offset ``h0`` and at ``h0 + Δh``; the
    ray of the upper pixel meets height ``h0`` at a ground point ``g``; the lean is
    ``g −`` (lon, lat), pointing away from the satellite, ``Δh · cot(el)`` metres long.
    """
    h0 = float(rpcs.height_off)
    with RPCTransformer(rpcs) as rpc:
        rows, cols = rpc.rowcol([lon], [lat], zs=[h0 + RPC_STEP_M], op=lambda v: v)
        g_lon, g_lat = rpc.xy(rows, cols, zs=[h0], offset="ul")
        # xy's pixel convention cancels against rowcol's: measure it at h0 as well.
        rows0, cols0 = rpc.rowcol([lon], [lat], zs=[h0], op=lambda v: v)
        b_lon, b_lat = rpc.xy(rows0, cols0, zs=[h0], offset="ul")
    m_lon, m_lat = metres_per_degree(lat)
    east = (float(np.ravel(g_lon)[0]) - float(np.ravel(b_lon)[0])) * m_lon
    north = (float(np.ravel(g_lat)[0]) - float(np.ravel(b_lat)[0])) * m_lat
    lean = math.hypot(east, north)
    if not math.isfinite(lean):
        raise ValueError("the RPC model does not project this image's centre")
    elevation = math.degrees(math.atan2(RPC_STEP_M, lean))
    azimuth = math.degrees(math.atan2(-east, -north)) % 360.0 if lean > 0 else 0.0
    return elevation, azimuth


def view_from_rpc(grid: GroundGrid, rpcs: RPC, name: str) -> ImageView:
    """The view at the centre of ``grid`` from the RPC model of the image ``name``."""
    lon, lat = grid.centre_lonlat()
    el, az = angles_from_rpc(rpcs, lon, lat)
    return view_from_angles(grid, el, az, f"RPC model of {name} (at the image centre)")


def affine_rpc(grid: GroundGrid, elevation_deg: float, azimuth_deg: float) -> RPC:
    """The RPC model of an ideal affine camera over ``grid`` (a north-up metric grid):
    a ground point at height 0 maps to its pixel of ``grid``; a point ``h`` metres up is
    imaged ``h·cot(el)`` metres farther from the satellite (at ``azimuth_deg`` seen from
    the ground). Only the linear terms are used; the denominators are 1. For checking RPC
    handling against known angles (tests, benchmarks)."""
    lon, lat = grid.centre_lonlat()
    m_lon, m_lat = metres_per_degree(lat)
    gsd = abs(grid.transform.a)
    lean = 1.0 / math.tan(math.radians(elevation_deg)) / gsd  # px per metre of height
    s, c = math.sin(math.radians(azimuth_deg)), math.cos(math.radians(azimuth_deg))
    lon_s, lat_s, h_s = 0.01, 0.01, 500.0
    samp = [0.0] * 20  # RPC00B terms: 1, L, P, H, ...
    samp[1] = lon_s * m_lon / gsd
    samp[3] = -h_s * lean * s
    line = [0.0] * 20
    line[2] = -lat_s * m_lat / gsd
    line[3] = h_s * lean * c
    den = [1.0] + [0.0] * 19
    return RPC(
        height_off=0.0, height_scale=h_s, lat_off=lat, lat_scale=lat_s, long_off=lon,
        long_scale=lon_s, line_off=grid.height / 2, line_scale=1.0, samp_off=grid.width / 2,
        samp_scale=1.0, line_num_coeff=line, line_den_coeff=den, samp_num_coeff=samp,
        samp_den_coeff=den,
    )  # fmt: skip
