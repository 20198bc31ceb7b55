"""Views of a synthetic city: GSD, satellite pass (flow angle, elevation → scale) and sun.

Each city has a few satellite passes (preset ``passes``: flow angle, elevation, weight),
so view angles cluster as in the real data instead of being uniform. The scale follows
from the elevation and GSD: ``scale = cot(elevation) / gsd`` (px/m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geopose.conventions import scale_from_elevation, wrap_angle
from geopose.data.synth.appearance import Sun
from geopose.data.synth.presets import CityPreset


@dataclass(frozen=True)
class View:
    """One acquisition: ground sample distance (m/px), flow angle (rad), elevation (rad), sun."""

    gsd: float
    angle: float
    elevation: float
    sun: Sun

    @property
    def scale(self) -> float:
        """Pixels of lean per metre of height (px/m)."""
        return float(scale_from_elevation(self.elevation, self.gsd))


def draw_view(
    preset: CityPreset,
    rng: np.random.Generator,
    *,
    gsd: float | None = None,
    angle: float | None = None,
    elevation: float | None = None,
) -> View:
    """A random view of ``preset``'s city; given values (m/px, rad, rad) are kept as they are."""
    weights = np.asarray([w for *_, w in preset.passes], dtype=np.float64)
    pass_angle, pass_elev, _ = preset.passes[
        int(rng.choice(len(weights), p=weights / weights.sum()))
    ]
    drawn_gsd = float(rng.uniform(*preset.gsd))
    drawn_angle = math.radians(pass_angle + rng.normal(0, preset.angle_jitter))
    elev = pass_elev + rng.normal(0, preset.elevation_jitter)
    drawn_elev = math.radians(float(np.clip(elev, *preset.elevation)))
    sun = Sun(
        azimuth=float(wrap_angle(math.radians(rng.uniform(*preset.sun_azimuth)))),
        elevation=math.radians(float(rng.uniform(*preset.sun_elevation))),
    )
    if gsd is not None and not (math.isfinite(gsd) and gsd > 0):
        raise ValueError(f"gsd must be a positive number of m/px, got {gsd}")
    if elevation is not None and not 0 < elevation <= math.pi / 2:
        raise ValueError(f"elevation must be in (0, π/2] rad, got {elevation}")
    return View(
        gsd=drawn_gsd if gsd is None else float(gsd),
        angle=float(wrap_angle(drawn_angle if angle is None else float(angle))),
        elevation=drawn_elev if elevation is None else float(elevation),
        sun=sun,
    )
