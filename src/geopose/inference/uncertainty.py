"""Uncertainty files of ``predict --uncertainty``, beside each prediction.

- ``{id}_AGL_SPREAD.tif``: float32 metres on the AGL's grid (its CRS and transform):
  the standard deviation of AGL across the TTA views and ensemble members;
- ``{id}_SPREAD.json``: the angle's spread — the circular standard deviation
  ``√(−2 ln R)`` in degrees of the views' and members' unit directions, whose mean has
  length ``R`` (``direction_agreement``) — and the mean and 90th percentile of the AGL
  spread (m) (the mean only for a raster predicted window by window: its p90 is null).

With one view of one model (``--tta none``, one checkpoint) every spread is 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from geopose.inference.predictor import angle_spread_deg
from geopose.io.atomic import atomic_write_text
from geopose.io.raster import GeoInfo, write_float

SPREAD_SUFFIX = "_AGL_SPREAD.tif"
SPREAD_JSON_SUFFIX = "_SPREAD.json"


def write_spread_json(
    path: str | Path, agreement: float, mean_m: float | None, p90_m: float | None
) -> None:
    """Write the ``{id}_SPREAD.json`` figures (see module text)."""
    payload = {
        "angle_spread_deg": angle_spread_deg(agreement),
        "direction_agreement": float(agreement),
        "agl_spread_mean_m": mean_m,
        "agl_spread_p90_m": p90_m,
    }
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


def write_uncertainty(
    folder: str | Path,
    image_id: str,
    spread: NDArray[np.floating],
    agreement: float,
    *,
    geo: GeoInfo | None = None,
) -> tuple[Path, Path]:
    """Write the two uncertainty files of ``image_id`` into ``folder``; return their paths."""
    out = Path(folder)
    tif, js = out / f"{image_id}{SPREAD_SUFFIX}", out / f"{image_id}{SPREAD_JSON_SUFFIX}"
    s = np.asarray(spread, dtype=np.float32)
    write_float(tif, s, geo=geo)
    finite = s[np.isfinite(s)]
    mean = float(finite.mean()) if finite.size else None
    p90 = float(np.percentile(finite, 90)) if finite.size else None
    write_spread_json(js, agreement, mean, p90)
    return tif, js
