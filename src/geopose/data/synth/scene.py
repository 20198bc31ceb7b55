"""Synthetic districts in metres: street grid, lots, buildings, trees and ground cover.

A district is a square of ``extent`` metres (x right, y down, origin top-left). Streets
form a grid turned by the city's street angle; blocks hold houses on lots, commercial
buildings (rectangles, L-shapes, courtyards, rooftop units), downtown towers on podiums,
parks or parking. Everything is vector data in metres, so any ground sample distance
can rasterise it (:mod:`geopose.data.synth.rasterize`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from geopose.data.synth.presets import CityPreset

# Ground cover classes (drawn in this order of precedence by the rasteriser).
OPEN, ROAD, CONCRETE, PARKING, LAWN = 0, 1, 2, 3, 4

Poly = NDArray[np.float64]  # n×2 vertices (x, y) in metres


@dataclass
class Scene:
    """A district: buildings, trees and ground polygons in metres."""

    extent: float  # m, side of the square district
    rings: list[Poly] = field(default_factory=list)  # building outlines
    holes: list[Poly | None] = field(default_factory=list)  # courtyards
    attrs: list[tuple[float, ...]] = field(default_factory=list)  # see BUILDING_ATTRS
    trees: list[tuple[float, ...]] = field(default_factory=list)  # x, y, radius, h, r, g, b
    ground: list[tuple[Poly, int]] = field(default_factory=list)  # (polygon, cover class)

    def building_table(self) -> NDArray[np.float64]:
        """B×len(BUILDING_ATTRS) array of building attributes."""
        return np.asarray(self.attrs, dtype=np.float64).reshape(-1, len(BUILDING_ATTRS))

    def tree_table(self) -> NDArray[np.float64]:
        """T×7 array: x, y (m), crown radius (m), height (m), colour r, g, b (0–1)."""
        return np.asarray(self.trees, dtype=np.float64).reshape(-1, 7)

    @property
    def max_height(self) -> float:
        """Tallest surface in metres (roof ridges and trees included)."""
        b = self.building_table()
        t = self.tree_table()
        hb = float((b[:, 0] + b[:, 1]).max()) if len(b) else 0.0
        ht = float(t[:, 3].max()) if len(t) else 0.0
        return max(hb, ht)


#: Columns of :meth:`Scene.building_table`: eave height (m), ridge rise (m, 0 = flat),
#: ridge centre x, y (m), unit normal to the ridge nx, ny, half-width across the ridge
#: (m), roof colour r, g, b and wall colour r, g, b (0–1), storey height (m; 0 = no
#: window rows).
BUILDING_ATTRS = (
    "height", "rise", "cx", "cy", "nx", "ny", "half",
    "roof_r", "roof_g", "roof_b", "wall_r", "wall_g", "wall_b", "storey",
)  # fmt: skip


@dataclass(frozen=True)
class _Frame:
    """The rotated street-grid frame: (u, v) metres about the district centre."""

    centre: float
    cos: float
    sin: float

    def xy(self, uv: NDArray[np.float64]) -> Poly:
        u, v = uv[..., 0], uv[..., 1]
        x = self.centre + u * self.cos - v * self.sin
        y = self.centre + u * self.sin + v * self.cos
        return np.stack([x, y], axis=-1)

    def rect(self, u0: float, u1: float, v0: float, v1: float) -> Poly:
        return self.xy(np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], dtype=np.float64))

    def vec(self, du: float, dv: float) -> tuple[float, float]:
        return du * self.cos - dv * self.sin, du * self.sin + dv * self.cos


class _Builder:
    """Draws a city preset's blocks into a :class:`Scene`."""

    def __init__(self, preset: CityPreset, rng: np.random.Generator, scene: Scene, f: _Frame):
        self.p, self.rng, self.scene, self.f = preset, rng, scene, f

    # ------------------------------------------------------------------ primitives
    def u(self, r: tuple[float, float]) -> float:
        """Uniform in [low, high]; an interval reversed by rounding collapses to low."""
        return float(self.rng.uniform(r[0], max(r[0], r[1])))

    def colour(self, palette: tuple[tuple[int, int, int], ...], jitter: float) -> list[float]:
        base = np.asarray(palette[int(self.rng.integers(len(palette)))], dtype=np.float64) / 255
        tint = base * self.rng.uniform(1 - jitter, 1 + jitter, 3) * self.rng.uniform(0.9, 1.1)
        return list(np.clip(tint, 0.02, 1.0))

    def height(self, kind: str) -> float:
        median, sigma, low = self.p.height_params(kind)
        h = median * math.exp(sigma * float(self.rng.standard_normal()))
        return float(min(max(h, low), self.p.max_agl))

    def building(
        self,
        ring: Poly,
        height: float,
        *,
        hole: Poly | None = None,
        storey: float = 0.0,
        gable: tuple[float, float, float, float, float] | None = None,
    ) -> None:
        """Add a building; ``gable`` = (u centre, v centre, across-u?, half, rise)."""
        rise, cx, cy, nx, ny, half = 0.0, 0.0, 0.0, 1.0, 0.0, 1.0
        if gable is not None:
            uc, vc, across_u, half, rise = gable
            rise = min(rise, max(self.p.max_agl - height, 0.0))
            cx, cy = (float(c) for c in self.f.xy(np.array([uc, vc])))
            nx, ny = self.f.vec(1.0, 0.0) if across_u else self.f.vec(0.0, 1.0)
        roof = self.colour(self.p.roof_colors, 0.08)
        wall = self.colour(self.p.wall_colors, 0.06)
        self.scene.rings.append(ring)
        self.scene.holes.append(hole)
        self.scene.attrs.append((height, rise, cx, cy, nx, ny, half, *roof, *wall, storey))

    def tree(self, u: float, v: float, scale: float = 1.0) -> None:
        x, y = (float(c) for c in self.f.xy(np.array([u, v])))
        h = self.u(self.p.tree_height) * scale
        r = self.u(self.p.tree_radius) * scale
        g = self.rng.uniform(0.9, 1.1)
        rgb = np.clip(np.array([0.20, 0.30, 0.13]) * self.rng.uniform(0.75, 1.25, 3) * g, 0, 1)
        self.scene.trees.append((x, y, r, min(h, self.p.max_agl), *rgb))

    def trees_in(self, u0: float, u1: float, v0: float, v1: float, count: int) -> None:
        for _ in range(count):
            self.tree(self.u((u0, u1)), self.u((v0, v1)))

    # ------------------------------------------------------------------ blocks
    def block(self, u0: float, u1: float, v0: float, v1: float) -> None:
        kinds = [k for k, _ in self.p.blocks]
        probs = np.asarray([w for _, w in self.p.blocks], dtype=np.float64)
        kind = kinds[int(self.rng.choice(len(kinds), p=probs / probs.sum()))]
        walk = self.p.sidewalk
        self.scene.ground.append((self.f.rect(u0, u1, v0, v1), CONCRETE))
        a0, a1, b0, b1 = u0 + walk, u1 - walk, v0 + walk, v1 - walk
        self.street_trees(u0, u1, v0, v1)
        getattr(self, f"_{kind}")(a0, a1, b0, b1)

    def street_trees(self, u0: float, u1: float, v0: float, v1: float) -> None:
        off = self.p.sidewalk / 2
        for a, b, fixed, along_u in (
            (u0, u1, v0 + off, True), (u0, u1, v1 - off, True),
            (v0, v1, u0 + off, False), (v0, v1, u1 - off, False),
        ):  # fmt: skip
            for t in np.arange(a + 5.0, b - 5.0, 10.0):
                if self.rng.random() < self.p.street_trees:
                    self.tree(float(t), fixed) if along_u else self.tree(fixed, float(t))

    def _residential(self, u0: float, u1: float, v0: float, v1: float) -> None:
        self.scene.ground.append((self.f.rect(u0, u1, v0, v1), OPEN))
        long_u = (u1 - u0) >= (v1 - v0)
        # Work in (a along the long side, b across); rows of lots face both long streets.
        a0, a1, b0, b1 = (u0, u1, v0, v1) if long_u else (v0, v1, u0, u1)
        depth = b1 - b0
        rows = (
            [(b0, b0 + depth / 2, True), (b0 + depth / 2, b1, False)]
            if depth > 24
            else [(b0, b1, True)]
        )
        for r0, r1, front_low in rows:
            a = a0
            while a1 - a > self.p.lot_width[0]:
                w = min(self.u(self.p.lot_width), a1 - a)
                self.lot(a, a + w, r0, r1, front_low, long_u)
                a += w

    def lot(
        self, a0: float, a1: float, b0: float, b1: float, front_low: bool, long_u: bool
    ) -> None:
        def rect(p0: float, p1: float, q0: float, q1: float) -> Poly:
            return self.f.rect(p0, p1, q0, q1) if long_u else self.f.rect(q0, q1, p0, p1)

        def uv(p: float, q: float) -> tuple[float, float]:
            return (p, q) if long_u else (q, p)

        if self.p.lawn > self.rng.random():
            self.scene.ground.append((rect(a0, a1, b0, b1), LAWN))
        n_trees = int(self.rng.poisson(self.p.trees_per_lot))
        if self.rng.random() < self.p.empty_lot:
            for _ in range(n_trees + 1):
                self.tree(*uv(self.u((a0, a1)), self.u((b0, b1))))
            return
        side = self.u(self.p.side_setback)
        front = self.u(self.p.front_setback)
        room = (b1 - b0) - front - 2.0
        depth = min(self.u(self.p.house_depth), room)
        width = (a1 - a0) - 2 * side
        if width < 4 or depth < 4:
            return
        p0, p1 = a0 + side, a0 + side + width
        q0, q1 = (b0 + front, b0 + front + depth) if front_low else (b1 - front - depth, b1 - front)
        height = self.height("residential")
        storey = 2.9 if height > 6.5 else 0.0
        if self.rng.random() < self.p.pitched:
            across_p = width <= depth  # ridge along the longer side
            half = (width if across_p else depth) / 2
            rise = half * math.tan(math.radians(self.u((20.0, 38.0))))
            across_u = across_p == long_u
            self.building(
                rect(p0, p1, q0, q1), height - rise * 0.5, storey=storey,
                gable=(*uv((p0 + p1) / 2, (q0 + q1) / 2), across_u, half, rise),
            )  # fmt: skip
        elif self.rng.random() < 0.35 and width > 9 and depth > 9:
            cut_p, cut_q = width * self.u((0.35, 0.6)), depth * self.u((0.35, 0.6))
            pts = [(p0, q0), (p1, q0), (p1, q1 - cut_q), (p1 - cut_p, q1 - cut_q),
                   (p1 - cut_p, q1), (p0, q1)]  # fmt: skip
            ring = self.f.xy(np.array([uv(p, q) for p, q in pts], dtype=np.float64))
            self.building(ring, height, storey=storey)
        else:
            self.building(rect(p0, p1, q0, q1), height, storey=storey)
        yard = (q1 + 1.0, b1) if front_low else (b0, q0 - 1.0)
        if yard[1] - yard[0] > 2:
            for _ in range(n_trees):
                self.tree(*uv(self.u((a0, a1)), self.u(yard)))

    def parcels(self, u0: float, u1: float, v0: float, v1: float) -> list[tuple[float, ...]]:
        n = int(self.rng.integers(1, 4))
        cuts = np.sort(self.rng.uniform(0.3, 0.7, n - 1)) if n > 1 else np.array([])
        edges = [0.0, *cuts.tolist(), 1.0]
        spans = list(itertools.pairwise(edges))
        if (u1 - u0) >= (v1 - v0):
            return [(u0 + (u1 - u0) * a, u0 + (u1 - u0) * b, v0, v1) for a, b in spans]
        return [(u0, u1, v0 + (v1 - v0) * a, v0 + (v1 - v0) * b) for a, b in spans]

    def _commercial(self, u0: float, u1: float, v0: float, v1: float) -> None:
        self.scene.ground.append((self.f.rect(u0, u1, v0, v1), PARKING))
        for p0, p1, q0, q1 in self.parcels(u0, u1, v0, v1):
            inset = self.u((1.5, 6.0))
            p0, p1, q0, q1 = p0 + inset, p1 - inset, q0 + inset, q1 - inset
            if p1 - p0 < 8 or q1 - q0 < 8:
                continue
            h = self.height("commercial")
            shape = self.rng.random()
            if shape < 0.2 and min(p1 - p0, q1 - q0) > 30:
                w = self.u((8.0, 14.0))
                self.building(
                    self.f.rect(p0, p1, q0, q1), h, storey=3.6,
                    hole=self.f.rect(p0 + w, p1 - w, q0 + w, q1 - w),
                )  # fmt: skip
            elif shape < 0.5:
                cp, cq = (p1 - p0) * self.u((0.3, 0.6)), (q1 - q0) * self.u((0.3, 0.6))
                pts = [(p0, q0), (p1, q0), (p1, q1 - cq), (p1 - cp, q1 - cq), (p1 - cp, q1),
                       (p0, q1)]  # fmt: skip
                self.building(self.f.xy(np.array(pts, dtype=np.float64)), h, storey=3.6)
            else:
                self.building(self.f.rect(p0, p1, q0, q1), h, storey=3.6)
            self.rooftop_units(p0, p1, q0, q1, h)

    def rooftop_units(self, p0: float, p1: float, q0: float, q1: float, h: float) -> None:
        for _ in range(int(self.rng.integers(0, 3))):
            w, d = self.u((3.0, 7.0)), self.u((3.0, 7.0))
            if p1 - p0 < w + 4 or q1 - q0 < d + 4:
                return
            a = self.u((p0 + 2, p1 - 2 - w))
            b = self.u((q0 + 2, q1 - 2 - d))
            self.building(
                self.f.rect(a, a + w, b, b + d), min(h + self.u((1.5, 4.0)), self.p.max_agl)
            )

    def _downtown(self, u0: float, u1: float, v0: float, v1: float) -> None:
        self.scene.ground.append((self.f.rect(u0, u1, v0, v1), CONCRETE))
        for p0, p1, q0, q1 in self.parcels(u0, u1, v0, v1)[:2]:
            if self.rng.random() < 0.5:
                podium = self.height("commercial")
                self.building(self.f.rect(p0 + 2, p1 - 2, q0 + 2, q1 - 2), podium, storey=4.0)
            w = min(self.u((22.0, 45.0)), p1 - p0 - 6)
            d = min(self.u((22.0, 45.0)), q1 - q0 - 6)
            if w < 10 or d < 10:
                continue
            a = self.u((p0 + 3, p1 - 3 - w))
            b = self.u((q0 + 3, q1 - 3 - d))
            h = self.height("downtown")
            self.building(self.f.rect(a, a + w, b, b + d), h, storey=3.8)
            self.rooftop_units(a, a + w, b, b + d, h)

    def _park(self, u0: float, u1: float, v0: float, v1: float) -> None:
        self.scene.ground.append((self.f.rect(u0, u1, v0, v1), LAWN))
        area_ha = (u1 - u0) * (v1 - v0) / 1e4
        self.trees_in(u0, u1, v0, v1, int(self.rng.poisson(self.p.park_trees_per_ha * area_ha)))

    def _parking(self, u0: float, u1: float, v0: float, v1: float) -> None:
        self.scene.ground.append((self.f.rect(u0, u1, v0, v1), PARKING))
        area_ha = (u1 - u0) * (v1 - v0) / 1e4
        self.trees_in(u0, u1, v0, v1, int(self.rng.poisson(10 * area_ha)))


def make_district(preset: CityPreset, rng: np.random.Generator, extent: float) -> Scene:
    """A square district of ``extent`` metres in the style of ``preset``, drawn from ``rng``."""
    if not extent > 0:
        raise ValueError(f"district extent must be > 0 m, got {extent}")
    scene = Scene(extent=extent)
    alpha = math.radians(float(rng.uniform(*preset.street_angle)))
    frame = _Frame(extent / 2, math.cos(alpha), math.sin(alpha))
    builder = _Builder(preset, rng, scene, frame)
    reach = extent * 0.75  # covers the square's corners at any grid angle
    spans = [_spans(preset, rng, reach) for _ in range(2)]
    for u0, u1 in spans[0]:
        for v0, v1 in spans[1]:
            corners = frame.rect(u0, u1, v0, v1)
            if corners.max() < 0 or corners.min() > extent:
                continue
            cx, cy = corners.mean(axis=0)
            if not (-60 < cx < extent + 60 and -60 < cy < extent + 60):
                continue
            builder.block(u0, u1, v0, v1)
    return scene


def _spans(preset: CityPreset, rng: np.random.Generator, reach: float) -> list[tuple[float, float]]:
    """Block intervals along one grid axis (m), separated by streets."""
    out = []
    pos = -reach - float(rng.uniform(0, preset.block[1]))
    while pos < reach:
        width = float(rng.uniform(*preset.block))
        out.append((pos, pos + width))
        pos += width + float(rng.uniform(*preset.street))
    return out
