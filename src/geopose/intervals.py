"""The official score with bootstrap intervals over tiles, and the figures behind it.

:class:`TileStats` holds one tile's sufficient statistics for the official metric
(DESIGN.md §2): for AGL and for the vertical-flow vector ``v`` the count ``n``, the sums
``Σ t`` and ``Σ t²`` of the truth and the squared error ``Σ (p − t)²`` (NaN predictions
drop out of the error, as the official scorer's ``nansum``). Sums of tiles are sums of
these, so a city's R² — and any bootstrap resample of its tiles — is exact arithmetic on
a few floats per tile.

:func:`score_with_intervals` resamples tiles with replacement **within each city** (the
metric pools pixels per city, so cities are strata) and reports the percentile interval
of the final score, of each R² and of every city's figures. Tiles, not pixels, are the
unit: pixels of one tile are strongly correlated, so a pixel bootstrap would claim far
too tight an interval.

Also per tile (reported, not scored): the angle error (degrees), the scale error
(px/m, signed) and the AGL error by true-height bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geopose.conventions import angle_difference, angle_to_direction
from geopose.metrics import R2_EPS

#: True-height bins (m) for the AGL bias table: [low, high).
HEIGHT_BINS: tuple[tuple[float, float], ...] = (
    (0.0, 2.0),
    (2.0, 5.0),
    (5.0, 10.0),
    (10.0, 20.0),
    (20.0, 50.0),
    (50.0, float("inf")),
)


@dataclass(frozen=True)
class TileStats:
    """One tile's sufficient statistics (float64) and its per-tile figures.

    ``agl``/``vflow``: ``(n, Σt, Σt², SSE)`` in m / px units; ``bins``: per height bin
    ``(n, Σ(p − t), Σ t)`` over pixels where truth and prediction are both valid.
    """

    city: str
    agl: tuple[float, float, float, float]
    vflow: tuple[float, float, float, float]
    angle_error_deg: float
    scale_error: float  # px/m, predicted − true
    true_scale: float  # px/m
    bins: tuple[tuple[float, float, float], ...]


def _sums(true: NDArray[np.float64], pred: NDArray[np.float64]) -> tuple[float, ...]:
    return (
        float(true.size),
        float(true.sum()),
        float((true * true).sum()),
        float(np.nansum((pred - true) ** 2)),
    )


def tile_stats(
    city: str,
    true_agl: NDArray[Any],
    true_scale: float,
    true_angle: float,
    pred_agl: NDArray[Any],
    pred_scale: float,
    pred_angle: float,
) -> TileStats:
    """Statistics of one tile: AGL maps in m (NaN = no data), scales px/m, angles rad."""
    t = np.asarray(true_agl, dtype=np.float64)
    p = np.asarray(pred_agl, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    keep = np.isfinite(t)
    t, p = t[keep], p[keep]
    tdx, tdy = angle_to_direction(true_angle)
    pdx, pdy = angle_to_direction(pred_angle)
    tv = np.concatenate([t * true_scale * tdx, t * true_scale * tdy])
    pv = np.concatenate([p * pred_scale * pdx, p * pred_scale * pdy])
    both = np.isfinite(p)
    bins = []
    for lo, hi in HEIGHT_BINS:
        sel = both & (t >= lo) & (t < hi)
        bins.append((float(sel.sum()), float((p[sel] - t[sel]).sum()), float(t[sel].sum())))
    err = float(np.degrees(angle_difference(pred_angle, true_angle)))
    return TileStats(
        city,
        _sums(t, p),  # type: ignore[arg-type]
        _sums(tv, pv),  # type: ignore[arg-type]
        err,
        float(pred_scale - true_scale),
        float(true_scale),
        tuple(bins),
    )


def r2(sums: NDArray[np.float64]) -> NDArray[np.float64]:
    """Official R² from summed ``(n, Σt, Σt², SSE)`` (last axis); any leading shape."""
    n, s1, s2, sse = sums[..., 0], sums[..., 1], sums[..., 2], sums[..., 3]
    m = s1 / (n + R2_EPS)
    sst = s2 - 2.0 * m * s1 + n * m * m
    return np.asarray(1.0 - sse / (sst + R2_EPS), dtype=np.float64)


@dataclass
class Interval:
    """A figure and its bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass
class ScoreReport:
    """Final score, R² and per-city figures, each with its interval."""

    score: Interval
    agl_r2: Interval
    vflow_r2: Interval
    cities: dict[str, dict[str, Any]] = field(default_factory=dict)
    tiles: int = 0
    resamples: int = 0
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        def conv(x: Any) -> Any:
            if isinstance(x, Interval):
                return x.as_dict()
            if isinstance(x, dict):
                return {k: conv(v) for k, v in x.items()}
            if isinstance(x, list):
                return [conv(v) for v in x]
            return x

        return {
            "score": self.score.as_dict(),
            "agl_r2": self.agl_r2.as_dict(),
            "vflow_r2": self.vflow_r2.as_dict(),
            "cities": conv(self.cities),
            "tiles": self.tiles,
            "resamples": self.resamples,
            "confidence": self.confidence,
        }


def _interval(value: float, draws: NDArray[np.float64], confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return Interval(float(value), float(low), float(high))


def score_with_intervals(
    tiles: Sequence[TileStats],
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ScoreReport:
    """The official score of ``tiles`` with bootstrap intervals (tiles resampled within
    each city; the same draws for every figure so they stay consistent)."""
    if not tiles:
        raise ValueError("no tiles to score")
    rng = np.random.default_rng(seed)
    cities = sorted({t.city for t in tiles})
    city_agl, city_vflow = [], []
    draws_agl, draws_vflow = [], []
    report = ScoreReport(Interval(0, 0, 0), Interval(0, 0, 0), Interval(0, 0, 0))
    for city in cities:
        mine = [t for t in tiles if t.city == city]
        a = np.array([t.agl for t in mine])
        v = np.array([t.vflow for t in mine])
        idx = rng.integers(0, len(mine), size=(resamples, len(mine)))
        ra, rv = r2(a[idx].sum(axis=1)), r2(v[idx].sum(axis=1))
        agl_val, vflow_val = float(r2(a.sum(axis=0))), float(r2(v.sum(axis=0)))
        city_agl.append(agl_val)
        city_vflow.append(vflow_val)
        draws_agl.append(ra)
        draws_vflow.append(rv)
        angle = np.array([t.angle_error_deg for t in mine])
        serr = np.array([t.scale_error for t in mine])
        bins = np.array([t.bins for t in mine])  # tiles × bins × 3
        bias = []
        for j, (lo, hi) in enumerate(HEIGHT_BINS):
            b = bins[:, j, :]
            rb = b[idx].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = rb[:, 1] / rb[:, 2]
                total = b.sum(axis=0)
                value = total[1] / total[2] if total[0] > 0 else float("nan")
            rel = rel[np.isfinite(rel)]
            bias.append(
                {
                    "bin_m": [lo, hi if np.isfinite(hi) else None],
                    "pixels": int(total[0]),
                    "bias_m": float(total[1] / total[0]) if total[0] > 0 else None,
                    "relative_bias": (
                        _interval(value, rel, confidence).as_dict()
                        if total[0] > 0 and rel.size
                        else None
                    ),
                }
            )
        report.cities[city] = {
            "tiles": len(mine),
            "score": _interval((agl_val + vflow_val) / 2, (ra + rv) / 2, confidence),
            "agl_r2": _interval(agl_val, ra, confidence),
            "vflow_r2": _interval(vflow_val, rv, confidence),
            "angle_error_deg": _interval(float(angle.mean()), angle[idx].mean(axis=1), confidence),
            "abs_scale_error": _interval(
                float(np.abs(serr).mean()), np.abs(serr)[idx].mean(axis=1), confidence
            ),
            "scale_bias": float(serr.mean()),
            "agl_bias_by_height": bias,
        }
    da, dv = np.mean(draws_agl, axis=0), np.mean(draws_vflow, axis=0)
    report.agl_r2 = _interval(float(np.mean(city_agl)), da, confidence)
    report.vflow_r2 = _interval(float(np.mean(city_vflow)), dv, confidence)
    score = (float(np.mean(city_agl)) + float(np.mean(city_vflow))) / 2
    report.score = _interval(score, (da + dv) / 2, confidence)
    report.tiles, report.resamples, report.confidence = len(tiles), resamples, confidence
    return report


# ------------------------------------------------------------------ several models
#: Figures :func:`mean_over_models` and :func:`difference` report.
FIGURES = ("score", "agl_r2", "vflow_r2")


def _city_index(tiles: Sequence[TileStats]) -> dict[str, NDArray[np.int64]]:
    cities = sorted({t.city for t in tiles})
    return {c: np.array([i for i, t in enumerate(tiles) if t.city == c]) for c in cities}


def _check_same_tiles(models: Sequence[Sequence[TileStats]]) -> None:
    """Models compared tile by tile must have been scored on the same tiles: same city
    and the same truth sums (n, Σt, Σt²) at every position."""
    if not models or not models[0]:
        raise ValueError("no tiles to score")
    first = models[0]
    for other in models[1:]:
        if len(other) != len(first):
            raise ValueError(f"models scored on {len(first)} and {len(other)} tiles")
        for i, (s, t) in enumerate(zip(first, other, strict=True)):
            same = s.city == t.city and np.allclose(s.agl[:3], t.agl[:3], rtol=1e-6)
            if not same:
                raise ValueError(f"tile {i} differs between models ({s.city} / {t.city})")


def _draws(
    models: Sequence[Sequence[TileStats]],
    idx: dict[str, NDArray[np.int64]],
    pick: dict[str, NDArray[np.int64]],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(value, draws) of the figures averaged over ``models``: value has shape (3,),
    draws (resamples, 3); ``pick[city]`` (resamples × tiles of the city) are positions
    into ``idx[city]``."""
    values, draws = [], []
    for tiles in models:
        a = np.array([t.agl for t in tiles])
        v = np.array([t.vflow for t in tiles])
        va, vv, da, dv = [], [], [], []
        for city, rows in idx.items():
            chosen = rows[pick[city]]
            va.append(r2(a[rows].sum(axis=0)))
            vv.append(r2(v[rows].sum(axis=0)))
            da.append(r2(a[chosen].sum(axis=1)))
            dv.append(r2(v[chosen].sum(axis=1)))
        agl, vfl = float(np.mean(va)), float(np.mean(vv))
        values.append([(agl + vfl) / 2, agl, vfl])
        ra, rv = np.mean(da, axis=0), np.mean(dv, axis=0)
        draws.append(np.stack([(ra + rv) / 2, ra, rv], axis=1))
    return np.mean(values, axis=0), np.mean(draws, axis=0)


def _picks(
    idx: dict[str, NDArray[np.int64]], resamples: int, rng: np.random.Generator
) -> dict[str, NDArray[np.int64]]:
    return {c: rng.integers(0, len(rows), size=(resamples, len(rows))) for c, rows in idx.items()}


def mean_over_models(
    models: Sequence[Sequence[TileStats]],
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Score, AGL R² and VFLOW R² averaged over ``models`` (e.g. the seeds of one
    recipe), all scored on the same tiles, with the percentile interval of resampling
    those tiles within each city (one draw shared by every model). The interval covers
    the tiles' sampling only, not the spread between models."""
    _check_same_tiles(models)
    idx = _city_index(models[0])
    value, draws = _draws(models, idx, _picks(idx, resamples, np.random.default_rng(seed)))
    return {f: _interval(value[j], draws[:, j], confidence) for j, f in enumerate(FIGURES)}


def difference(
    models_a: Sequence[Sequence[TileStats]],
    models_b: Sequence[Sequence[TileStats]],
    *,
    paired: bool = True,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """``mean over models_a − mean over models_b`` of score, AGL R² and VFLOW R², with a
    bootstrap interval. ``paired``: all models were scored on the same tiles, and each
    resample draws the same tiles (within each city) for both sides, so what the tiles
    share cancels; otherwise the two sides' tiles are resampled independently."""
    if paired:
        _check_same_tiles([*models_a, *models_b])
    else:
        _check_same_tiles(models_a)
        _check_same_tiles(models_b)
    rng = np.random.default_rng(seed)
    idx_a = _city_index(models_a[0])
    pick_a = _picks(idx_a, resamples, rng)
    idx_b = idx_a if paired else _city_index(models_b[0])
    pick_b = pick_a if paired else _picks(idx_b, resamples, rng)
    va, da = _draws(models_a, idx_a, pick_a)
    vb, db = _draws(models_b, idx_b, pick_b)
    value, draws = va - vb, da - db
    return {f: _interval(value[j], draws[:, j], confidence) for j, f in enumerate(FIGURES)}
