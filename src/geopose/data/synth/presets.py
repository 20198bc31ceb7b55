"""City presets of the synthetic generator: YAML in, validated dataclasses out.

The package ships ``geopose/presets/cities.yaml`` (ARG, ATL, JAX, OMA, matched to the
competition's published ranges); users add or override cities with their own YAML files
of the same shape. Lengths are metres, angles degrees in the files (radians nowhere
here: conversion happens where views are drawn), colours 0–255 RGB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from geopose.errors import DataError

BLOCK_KINDS = ("residential", "commercial", "downtown", "park", "parking")
BUILT_KINDS = ("residential", "commercial", "downtown")

Range = tuple[float, float]


@dataclass(frozen=True)
class CityPreset:
    """Everything that makes a synthetic city look and measure like its real namesake."""

    name: str
    description: str
    gsd: Range  # m/px
    elevation: Range  # satellite elevation limits, deg
    max_agl: float  # m
    mean_agl: float  # m, the real data's mean (a reference for checks)
    passes: tuple[tuple[float, float, float], ...]  # (flow angle deg, elevation deg, weight)
    angle_jitter: float  # deg
    elevation_jitter: float  # deg
    sun_azimuth: Range  # deg, direction towards the sun in the flow-angle convention
    sun_elevation: Range  # deg
    street_angle: Range  # deg, orientation of the street grid
    block: Range  # m, block side
    street: Range  # m, street width
    sidewalk: float  # m
    blocks: tuple[tuple[str, float], ...]  # block kind → probability
    height: tuple[tuple[str, tuple[float, float, float]], ...]  # kind → (median m, σ, min m)
    lot_width: Range  # m
    house_depth: Range  # m
    front_setback: Range  # m
    side_setback: Range  # m
    empty_lot: float  # probability
    pitched: float  # probability of a pitched roof on a house
    trees_per_lot: float  # mean count
    street_trees: float  # probability of a tree per 10 m of sidewalk
    park_trees_per_ha: float
    tree_height: Range  # m
    tree_radius: Range  # m
    lawn: float  # fraction of open ground that is grass (rest: soil)
    roof_colors: tuple[tuple[int, int, int], ...]
    wall_colors: tuple[tuple[int, int, int], ...]
    haze: float  # probability of a hazy tile

    def height_params(self, kind: str) -> tuple[float, float, float]:
        """(median m, lognormal σ, minimum m) of building heights in blocks of ``kind``."""
        return dict(self.height)[kind]


_FIELDS = {f.name: f for f in dataclasses.fields(CityPreset)}


def _number(path: Path, city: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(path, f"city {city}: {key} must be a number, got {value!r}")
    return float(value)


def _range(path: Path, city: str, key: str, value: Any) -> Range:
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise DataError(path, f"city {city}: {key} must be [low, high], got {value!r}")
    lo, hi = (_number(path, city, key, v) for v in value)
    if lo > hi:
        raise DataError(path, f"city {city}: {key} has low {lo} > high {hi}")
    return lo, hi


def _rows(path: Path, city: str, key: str, value: Any, width: int) -> tuple[tuple[float, ...], ...]:
    if not (isinstance(value, list) and value):
        raise DataError(path, f"city {city}: {key} must be a non-empty list")
    out = []
    for row in value:
        if not (isinstance(row, list) and len(row) == width):
            raise DataError(path, f"city {city}: each {key} entry needs {width} numbers: {row!r}")
        out.append(tuple(_number(path, city, key, v) for v in row))
    return tuple(out)


def _kinds(path: Path, city: str, key: str, value: Any, kinds: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(path, f"city {city}: {key} must be a mapping of {', '.join(kinds)}")
    unknown = sorted(set(value) - set(kinds))
    missing = sorted(set(kinds) - set(value))
    if unknown or missing:
        raise DataError(path, f"city {city}: {key} unknown {unknown} / missing {missing}")
    return value


def _parse(path: Path, city: str, raw: Mapping[str, Any]) -> CityPreset:
    unknown = sorted(set(raw) - set(_FIELDS) - {"name"})
    if unknown:
        raise DataError(path, f"city {city}: unknown key(s) {', '.join(unknown)}")
    missing = sorted(set(_FIELDS) - set(raw) - {"name"})
    if missing:
        raise DataError(path, f"city {city}: missing key(s) {', '.join(missing)}")
    values: dict[str, Any] = {"name": city, "description": str(raw["description"])}
    for key, field in _FIELDS.items():
        if key in values:
            continue
        v = raw[key]
        if field.type == "Range":
            values[key] = _range(path, city, key, v)
        elif field.type == "float":
            values[key] = _number(path, city, key, v)
    values["passes"] = _rows(path, city, "passes", raw["passes"], 3)
    probs = _kinds(path, city, "blocks", raw["blocks"], BLOCK_KINDS)
    values["blocks"] = tuple((k, _number(path, city, "blocks", probs[k])) for k in BLOCK_KINDS)
    heights = _kinds(path, city, "height", raw["height"], BUILT_KINDS)
    values["height"] = tuple(
        (k, tuple(_rows(path, city, "height", [heights[k]], 3)[0])) for k in BUILT_KINDS
    )
    for key in ("roof_colors", "wall_colors"):
        values[key] = tuple(
            tuple(int(c) for c in row) for row in _rows(path, city, key, raw[key], 3)
        )
    preset = CityPreset(**values)
    _check(path, preset)
    return preset


def _check(path: Path, p: CityPreset) -> None:
    if p.gsd[0] <= 0:
        raise DataError(path, f"city {p.name}: gsd must be > 0 m/px")
    if not 0 < p.elevation[0] <= p.elevation[1] <= 90:
        raise DataError(path, f"city {p.name}: elevation must lie in (0, 90] degrees")
    if sum(w for *_, w in p.passes) <= 0 or any(w < 0 for *_, w in p.passes):
        raise DataError(path, f"city {p.name}: pass weights must be ≥ 0 with a positive sum")
    if sum(w for _, w in p.blocks) <= 0 or any(w < 0 for _, w in p.blocks):
        raise DataError(path, f"city {p.name}: block probabilities must be ≥ 0, sum > 0")
    if p.max_agl <= 0:
        raise DataError(path, f"city {p.name}: max_agl must be > 0 m")


def parse_presets(path: Path, data: Any, known: Mapping[str, CityPreset]) -> dict[str, CityPreset]:
    """Presets of one parsed YAML document; ``base: CITY`` entries extend ``known`` ones."""
    if not isinstance(data, dict):
        raise DataError(path, "expected a mapping of city code → preset")
    out: dict[str, CityPreset] = {}
    for city, raw in data.items():
        if not (isinstance(city, str) and city and "_" not in city):
            raise DataError(path, f"city code {city!r} must be a non-empty name without '_'")
        if not isinstance(raw, dict):
            raise DataError(path, f"city {city}: expected a mapping")
        raw = dict(raw)
        base = raw.pop("base", None)
        if base is not None:
            pool = {**known, **out}
            if base not in pool:
                raise DataError(path, f"city {city}: unknown base preset {base!r}")
            raw = {**_to_raw(pool[base]), **raw}
        out[city] = _parse(path, city, raw)
    return out


def _to_raw(p: CityPreset) -> dict[str, Any]:
    raw = dataclasses.asdict(p)
    raw.pop("name")
    raw["passes"] = [list(x) for x in p.passes]
    raw["blocks"] = dict(p.blocks)
    raw["height"] = {k: list(v) for k, v in p.height}
    raw["roof_colors"] = [list(c) for c in p.roof_colors]
    raw["wall_colors"] = [list(c) for c in p.wall_colors]
    for key, field in _FIELDS.items():
        if field.type == "Range":
            raw[key] = list(raw[key])
    return raw


def load_presets(extra: Iterable[str | Path] = ()) -> dict[str, CityPreset]:
    """The shipped city presets, updated by the YAML files in ``extra`` (in order)."""
    shipped = resources.files("geopose").joinpath("presets/cities.yaml")
    presets = parse_presets(Path(str(shipped)), yaml.safe_load(shipped.read_text("utf-8")), {})
    for item in extra:
        path = Path(item)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(path, "preset file not found") from None
        except (OSError, yaml.YAMLError) as err:
            raise DataError(path, f"cannot read presets: {' '.join(str(err).split())}") from None
        presets.update(parse_presets(path, data, presets))
    return presets
