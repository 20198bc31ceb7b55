"""One labelled synthetic tile (a DESIGN.md §4 Sample), deterministic for its seeds.

A tile is a window of a district (:mod:`~geopose.data.synth.scene`) seen from one view
(:mod:`~geopose.data.synth.views`). The district is rasterised at the tile's GSD over
the tile plus the margins that rays (``max height · scale`` px along ``d``) and shadows
(``max height / tan(sun elevation)`` px towards the sun) can reach, then traced
(:mod:`~geopose.data.synth.raytrace`), shaded (:mod:`~geopose.data.synth.appearance`)
and cropped.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geopose.conventions import angle_to_direction
from geopose.data.synth import appearance as look
from geopose.data.synth.flaws import LabelFlaws, damage_agl
from geopose.data.synth.presets import CityPreset, load_presets
from geopose.data.synth.rasterize import Raster, overlaps, rasterize
from geopose.data.synth.raytrace import shadow_height, trace
from geopose.data.synth.scene import Scene, make_district
from geopose.data.synth.truth import Footprint, SynthTruth
from geopose.data.synth.views import View, draw_view

#: Metres of district around a tile that is generated on its own (no shared district).
OWN_DISTRICT_PAD_M = 40.0


def city_key(city: str) -> int:
    """A stable integer for a city code, used in random-stream keys."""
    return zlib.crc32(city.encode("utf-8"))


def stream(seed: int, *key: int) -> np.random.Generator:
    """An independent generator for ``(seed, *key)``: same key, same numbers, any process."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


@functools.lru_cache(maxsize=8)
def district(preset: CityPreset, seed: int, extent: float) -> Scene:
    """The district of ``preset`` for ``seed``, ``extent`` metres square (cached)."""
    return make_district(preset, stream(seed, city_key(preset.name), 1), extent)


@dataclass(frozen=True)
class Window:
    """Pixel window around a tile: the tile sits at (top, left) inside ``shape``."""

    origin: tuple[float, float]  # m, top-left corner of the window in the district
    shape: tuple[int, int]
    top: int
    left: int


def _window(view: View, tile_xy: tuple[float, float], size: int, hmax: float) -> Window:
    """Tile plus the margins that rays and shadows starting in it can reach."""
    dx, dy = angle_to_direction(view.angle)
    ray = hmax * view.scale + 2
    sun = view.sun
    shadow = hmax / max(math.tan(sun.elevation), 0.05) / view.gsd + 2
    ux, uy = math.sin(sun.azimuth), math.cos(sun.azimuth)
    left = math.ceil(ray * max(-dx, 0) + shadow * max(-ux, 0)) + 1
    right = math.ceil(ray * max(dx, 0) + shadow * max(ux, 0)) + 1
    top = math.ceil(ray * max(-dy, 0) + shadow * max(-uy, 0)) + 1
    bottom = math.ceil(ray * max(dy, 0) + shadow * max(uy, 0)) + 1
    origin = (tile_xy[0] - left * view.gsd, tile_xy[1] - top * view.gsd)
    return Window(origin, (size + top + bottom, size + left + right), top, left)


def _ray_box(view: View, win: Window, size: int, hmax: float) -> tuple[int, int, int, int]:
    """(r0, r1, c0, c1) of the window part that tile rays can reach (tile + ray margin)."""
    ray = hmax * view.scale + 2
    dx, dy = angle_to_direction(view.angle)
    r0 = max(win.top - math.ceil(ray * max(-dy, 0)) - 1, 0)
    r1 = min(win.top + size + math.ceil(ray * max(dy, 0)) + 1, win.shape[0])
    c0 = max(win.left - math.ceil(ray * max(-dx, 0)) - 1, 0)
    c1 = min(win.left + size + math.ceil(ray * max(dx, 0)) + 1, win.shape[1])
    return r0, r1, c0, c1


def _trace_tile(
    height: NDArray[np.float32],
    box: tuple[int, int, int, int],
    view: View,
    win: Window,
    size: int,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """AGL (m) of the tile and each tile pixel's footprint as a flat index into ``box``."""
    r0, r1, c0, c1 = box
    agl, foot = trace(height[r0:r1, c0:c1], view.scale, view.angle)
    t, lft = win.top - r0, win.left - c0
    return agl[t : t + size, lft : lft + size], foot[t : t + size, lft : lft + size]


def _without(r: Raster, scene: Scene, drop: NDArray[np.bool_]) -> Raster:
    """The raster with the buildings flagged in ``drop`` (by table row) removed."""
    gone = np.concatenate([[False], drop])[r.building]
    height = np.where(gone & (r.tree == 0), np.float32(0), r.height).astype(np.float32)
    building = np.where(gone, 0, r.building).astype(np.int32)
    return Raster(height, building, r.tree, r.ground, r.origin, r.gsd)


def _image(
    r: Raster,
    scene: Scene,
    preset: CityPreset,
    view: View,
    win: Window,
    size: int,
    hmax: float,
    rng: np.random.Generator,
    haze: float,
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """The tile's RGB and the AGL this raster shows (m)."""
    buildings, trees = scene.building_table(), scene.tree_table()
    box = _ray_box(view, win, size, hmax)
    agl, foot = _trace_tile(r.height, box, view, win, size)
    full_shade = shadow_height(r.height, view.gsd, view.sun.azimuth, view.sun.elevation)
    # Only the cells that tile rays reach need a colour.
    r0, r1, c0, c1 = box
    seen, shade = r.crop(box), full_shade[r0:r1, c0:c1]
    top = look.top_albedo(seen, buildings, trees, preset.lawn, rng)
    top *= look.top_light(seen, shade, view.sun)
    f = foot.ravel()
    rgb = top.reshape(-1, 3)[f]
    z = agl.ravel()
    wall = z < seen.height.ravel()[f] - 0.05
    on_tree = wall & (seen.tree.ravel()[f] > 0)
    rgb[on_tree] *= 0.7
    on_wall = wall & ~on_tree
    rgb[on_wall] = look.facades(seen, buildings, f[on_wall], z[on_wall], shade, view.sun)
    return look.finish(rgb.reshape(size, size, 3), rng, haze), agl


def generate_sample(
    city: str,
    seed: int,
    size: int = 512,
    gsd: float | None = None,
    *,
    angle: float | None = None,
    elevation: float | None = None,
    district_seed: int | None = None,
    district_extent: float | None = None,
    flaws: LabelFlaws | None = None,
    haze: bool | None = None,
    presets: dict[str, CityPreset] | None = None,
    image_id: str | None = None,
) -> dict[str, Any]:
    """One labelled tile of a synthetic ``city``, deterministic for ``seed``.

    Args:
        city: preset name (ARG, ATL, JAX, OMA, or one from ``presets``).
        seed: the tile's seed (view, position in the district, textures, noise).
        size: tile side in pixels.
        gsd: ground sample distance in m/px (drawn from the city's range when None).
        angle: flow angle in rad (drawn from the city's passes when None).
        elevation: satellite elevation in rad (drawn when None); ``scale = cot / gsd``.
        district_seed: seed of the district the tile is cut from; tiles with the same
            district seed and extent share (and may overlap on) one district. None: a
            district of the tile's own.
        district_extent: side of that district in metres (≥ the tile's extent
            ``size · gsd``); None: just the tile plus a small margin.
        flaws: label flaws to add (None: clean labels).
        haze: force haze on or off (None: the city's haze probability).
        presets: city presets (default: :func:`load_presets`).
        image_id: the sample's id (default ``{city}_{seed}``).

    Returns:
        A Sample dict: ``image`` (uint8 H×W×3 RGB), ``agl`` (float32 m, NaN = no data),
        ``gsd`` (m/px), ``scale`` (px/m), ``angle`` (rad in [0, 2π)), ``city``, ``id``.
    """
    return generate_sample_with_truth(
        city, seed, size, gsd, angle=angle, elevation=elevation, district_seed=district_seed,
        district_extent=district_extent, flaws=flaws, haze=haze, presets=presets,
        image_id=image_id,
    )[0]  # fmt: skip


def _footprints(scene: Scene, raster: Raster) -> tuple[Footprint, ...]:
    """The buildings of ``scene`` that touch the raster's window."""
    rows, cols = raster.height.shape
    x0, y0 = raster.origin
    box = (x0, y0, x0 + cols * raster.gsd, y0 + rows * raster.gsd)
    table = scene.building_table()
    out = []
    for i, (ring, hole) in enumerate(zip(scene.rings, scene.holes, strict=True)):
        if overlaps(ring, box):
            out.append(Footprint(ring, hole, float(table[i, 0]), float(table[i, 1])))
    return tuple(out)


def generate_sample_with_truth(
    city: str,
    seed: int,
    size: int = 512,
    gsd: float | None = None,
    *,
    angle: float | None = None,
    elevation: float | None = None,
    district_seed: int | None = None,
    district_extent: float | None = None,
    flaws: LabelFlaws | None = None,
    haze: bool | None = None,
    presets: dict[str, CityPreset] | None = None,
    image_id: str | None = None,
) -> tuple[dict[str, Any], SynthTruth]:
    """:func:`generate_sample`'s tile and the :class:`SynthTruth` it was made from.

    The arguments are :func:`generate_sample`'s. The truth's heights are the true
    surface (label flaws only touch the sample's AGL).
    """
    table = load_presets() if presets is None else presets
    if city not in table:
        raise ValueError(f"unknown city {city!r}; known: {', '.join(sorted(table))}")
    if size < 8:
        raise ValueError(f"size must be at least 8 px, got {size}")
    preset = table[city]
    key = city_key(city)
    view = draw_view(preset, stream(seed, key, 2), gsd=gsd, angle=angle, elevation=elevation)
    tile_m = size * view.gsd
    if district_seed is None:
        extent = tile_m + 2 * OWN_DISTRICT_PAD_M
        scene = make_district(preset, stream(seed, key, 1), extent)
        tile_xy = (OWN_DISTRICT_PAD_M, OWN_DISTRICT_PAD_M)
    else:
        extent = max(district_extent or 0.0, tile_m)
        scene = district(preset, district_seed, float(extent))
        pos = stream(seed, key, 3).uniform(0, extent - tile_m, 2)
        tile_xy = (float(pos[0]), float(pos[1]))
    hmax = scene.max_height
    win = _window(view, tile_xy, size, hmax)
    raster = rasterize(scene, view.gsd, win.origin, win.shape)
    rng = stream(seed, key, 4)
    flaws = flaws or LabelFlaws()
    haze_mix = 0.0
    hazy = rng.random() < preset.haze if haze is None else haze
    if hazy:
        haze_mix = float(rng.uniform(0.12, 0.35))
    shown = raster
    if flaws.phantom_buildings > 0 and len(scene.rings):
        drop = stream(seed, key, 5).random(len(scene.rings)) < flaws.phantom_buildings
        shown = _without(raster, scene, drop)
    image, agl = _image(shown, scene, preset, view, win, size, hmax, rng, haze_mix)
    if shown is not raster:
        agl = _trace_tile(raster.height, _ray_box(view, win, size, hmax), view, win, size)[0]
    if flaws.any:
        agl = damage_agl(agl, flaws, stream(seed, key, 6))
    sample = {
        "image": image,
        "agl": np.ascontiguousarray(agl, dtype=np.float32),
        "gsd": float(view.gsd),
        "scale": view.scale,
        "angle": float(view.angle),
        "city": city,
        "id": image_id or f"{city}_{seed}",
    }
    truth = SynthTruth(
        height=raster.height, window_origin=win.origin, tile_origin=tile_xy, gsd=view.gsd,
        angle=float(view.angle), elevation=view.elevation, extent=float(extent),
        footprints=_footprints(scene, raster),
    )  # fmt: skip
    return sample, truth
