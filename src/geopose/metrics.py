"""The official Overhead Geopose score as a streaming, mergeable, DDP-reducible accumulator.

The formula is DESIGN.md §2, i.e. the baseline's ``utilities/evaluate.py`` as the
competition ran it. Per city, pooled over all of its images, over the pixels whose
**true** AGL is valid (finite):

* ``R² = 1 − SSE / (SST + 1e-4)`` with ``SSE = Σ (pred − true)²``,
  ``SST = Σ (true − m)²`` and ``m = Σ true / (n + 1e-4)`` (``n`` = valid true pixels).
* VFLOW R² is the same formula over ``v = (mag·sin θ, mag·cos θ)``, ``mag = agl·scale``,
  with **one** pooled mean ``m`` over both components (``n`` counts both components).
  The true ``v`` comes from the true AGL, scale and angle, the predicted ``v`` from the
  predicted ones.
* Sums have ``numpy.nansum`` semantics: a pixel whose *prediction* is no-data (NaN in
  memory, 65535 in a file) drops out of SSE, while its truth still counts in ``n``, in
  ``m`` and in SST. Such pixels are counted and reported (``pred_nodata``).
* city score = (AGL R² + VFLOW R²) / 2; a city with a missing prediction or a NaN
  predicted scale or angle scores 0 (both R² reported as 0, the culprits listed in
  ``failed``). Negative R² is not clipped. The final score is the mean over the cities
  present.

Numerics: every sum is float64. Per city the accumulator keeps ``n``, the mean and
``M2 = Σ (true − mean)²`` of the truth, merged with Chan et al.'s parallel formula, and
SSE. The official SST then follows exactly as ``SST = M2 + n·(mean − m)²``. Because
every statistic merges associatively (up to rounding), any split of the images into
partial accumulators, merged in any order, gives the same score to ~1e-12 relative.

Extra figures per city (reported, not scored): mean angle error (degrees, smallest
angular difference, averaged over images), mean |scale error| (pixels per metre,
averaged over images), AGL RMSE (metres, pooled over pixels where truth and prediction
are both valid) and mean end-point error of ``v`` (pixels, pooled over the same pixels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from geopose.conventions import angle_difference, angle_to_direction

#: The official scorer's guard added to the pixel count (for m) and to SST.
R2_EPS = 1e-4

#: Order of the float fields of one city's state (also the layout of its tensor form).
STATE_FIELDS: tuple[str, ...] = (
    "images",
    "agl_n",
    "agl_mean",
    "agl_m2",
    "agl_sse",
    "vflow_n",
    "vflow_mean",
    "vflow_m2",
    "vflow_sse",
    "angle_error_sum",
    "scale_error_sum",
    "both_n",
    "agl_sq_sum",
    "epe_sum",
    "pred_nodata",
)


@dataclass
class RunningStats:
    """Count, mean and sum of squared deviations of a stream of values (float64)."""

    n: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, values: NDArray[np.float64]) -> RunningStats:
        """Two-pass statistics of one array of finite values."""
        n = int(values.size)
        if n == 0:
            return cls()
        mean = float(values.mean(dtype=np.float64))
        return cls(float(n), mean, float(np.sum(np.square(values - mean), dtype=np.float64)))

    def merge(self, other: RunningStats) -> None:
        """Fold ``other`` into ``self`` (Chan, Golub & LeVeque's pairwise update)."""
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean, other.m2
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.n / n)
        self.m2 = self.m2 + other.m2 + delta * delta * (self.n * other.n / n)
        self.n = n

    def official_sst(self) -> float:
        """The scorer's ``Σ (x − m)²`` with ``m = Σx / (n + 1e-4)``, from (n, mean, M2)."""
        m = self.n * self.mean / (self.n + R2_EPS)
        return self.m2 + self.n * (self.mean - m) ** 2


def r2_from(stats: RunningStats, sse: float) -> float:
    """The official R² = 1 − SSE / (SST + 1e-4)."""
    return 1.0 - sse / (stats.official_sst() + R2_EPS)


@dataclass
class CityState:
    """Sufficient statistics of one city (all float64 sums; see the module docstring)."""

    images: float = 0.0
    agl: RunningStats = field(default_factory=RunningStats)
    agl_sse: float = 0.0
    vflow: RunningStats = field(default_factory=RunningStats)
    vflow_sse: float = 0.0
    angle_error_sum: float = 0.0  # degrees
    scale_error_sum: float = 0.0  # px/m
    both_n: float = 0.0  # pixels where truth and prediction are both valid
    agl_sq_sum: float = 0.0  # m² over both_n pixels
    epe_sum: float = 0.0  # px over both_n pixels
    pred_nodata: float = 0.0  # predicted no-data pixels
    failed: list[str] = field(default_factory=list)

    def merge(self, other: CityState) -> None:
        """Fold ``other`` into ``self``."""
        self.images += other.images
        self.agl.merge(other.agl)
        self.agl_sse += other.agl_sse
        self.vflow.merge(other.vflow)
        self.vflow_sse += other.vflow_sse
        self.angle_error_sum += other.angle_error_sum
        self.scale_error_sum += other.scale_error_sum
        self.both_n += other.both_n
        self.agl_sq_sum += other.agl_sq_sum
        self.epe_sum += other.epe_sum
        self.pred_nodata += other.pred_nodata
        self.failed.extend(other.failed)

    def to_floats(self) -> list[float]:
        """The float fields in :data:`STATE_FIELDS` order."""
        a, v = self.agl, self.vflow
        return [
            self.images,
            a.n,
            a.mean,
            a.m2,
            self.agl_sse,
            v.n,
            v.mean,
            v.m2,
            self.vflow_sse,
            self.angle_error_sum,
            self.scale_error_sum,
            self.both_n,
            self.agl_sq_sum,
            self.epe_sum,
            self.pred_nodata,
        ]

    @classmethod
    def from_floats(cls, values: Sequence[float], failed: Sequence[str] = ()) -> CityState:
        """Inverse of :meth:`to_floats`."""
        if len(values) != len(STATE_FIELDS):
            raise ValueError(f"a city state has {len(STATE_FIELDS)} fields, got {len(values)}")
        f = dict(zip(STATE_FIELDS, (float(x) for x in values), strict=True))
        return cls(
            images=f["images"],
            agl=RunningStats(f["agl_n"], f["agl_mean"], f["agl_m2"]),
            agl_sse=f["agl_sse"],
            vflow=RunningStats(f["vflow_n"], f["vflow_mean"], f["vflow_m2"]),
            vflow_sse=f["vflow_sse"],
            angle_error_sum=f["angle_error_sum"],
            scale_error_sum=f["scale_error_sum"],
            both_n=f["both_n"],
            agl_sq_sum=f["agl_sq_sum"],
            epe_sum=f["epe_sum"],
            pred_nodata=f["pred_nodata"],
            failed=list(failed),
        )


@dataclass(frozen=True)
class CityResult:
    """Scores and error figures of one city.

    ``agl_r2``, ``vflow_r2`` and ``score`` are 0 when the city ``failed``.
    ``angle_error_deg`` (degrees) and ``scale_error`` (px/m) are means over the scored
    images; ``agl_rmse`` (m) and ``epe`` (px) are pooled over pixels where truth and
    prediction are both valid. Figures without data are NaN.
    """

    agl_r2: float
    vflow_r2: float
    score: float
    angle_error_deg: float
    scale_error: float
    agl_rmse: float
    epe: float
    images: int
    pred_nodata: int
    failed: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (non-finite figures become ``None``)."""
        out: dict[str, Any] = {}
        for key in (
            "agl_r2",
            "vflow_r2",
            "score",
            "angle_error_deg",
            "scale_error",
            "agl_rmse",
            "epe",
        ):
            value = float(getattr(self, key))
            out[key] = value if math.isfinite(value) else None
        out["images"] = self.images
        out["pred_nodata"] = self.pred_nodata
        out["failed"] = list(self.failed)
        return out


@dataclass(frozen=True)
class MetricResult:
    """The final score (mean over cities) and the per-city results."""

    score: float
    agl_r2: float
    vflow_r2: float
    cities: dict[str, CityResult]

    @property
    def failed(self) -> list[str]:
        """Every file or image that made its city fail, over all cities."""
        return [f for c in self.cities.values() for f in c.failed]

    def as_dict(self) -> dict[str, Any]:
        """``{"score", "agl_r2", "vflow_r2", "cities": {CITY: {...}}, "failed": [...]}``."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "score": num(self.score),
            "agl_r2": num(self.agl_r2),
            "vflow_r2": num(self.vflow_r2),
            "cities": {name: c.as_dict() for name, c in self.cities.items()},
            "failed": self.failed,
        }


def _mean(total: float, count: float) -> float:
    return total / count if count > 0 else math.nan


def _as_f64(x: ArrayLike, what: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{what}: expected an H×W map, got shape {a.shape}")
    return a


class GeoposeMetric:
    """Streaming accumulator of the official score, per city.

    Feed it image by image with :meth:`update` (numpy, metres, NaN = no data) or
    :meth:`update_batch` (batched tensors, DESIGN.md §4); combine partial accumulators
    with :meth:`merge` or across processes with :meth:`all_reduce`; read the result with
    :meth:`compute`.
    """

    def __init__(self) -> None:
        self.cities: dict[str, CityState] = {}

    def _city(self, city: str) -> CityState:
        if city not in self.cities:
            self.cities[city] = CityState()
        return self.cities[city]

    # ------------------------------------------------------------------ updates
    def mark_failed(self, city: str, what: str) -> None:
        """Record that an image of ``city`` could not be scored (``what`` names it).

        The city will score 0, as the official scorer does for a missing prediction.
        """
        state = self._city(city)
        state.images += 1
        state.failed.append(what)

    def update(
        self,
        city: str,
        agl_pred: ArrayLike,
        scale_pred: float,
        angle_pred: float,
        agl_true: ArrayLike,
        scale_true: float,
        angle_true: float,
        *,
        name: str | None = None,
    ) -> None:
        """Add one image.

        Args:
            city: the image's city code.
            agl_pred: predicted AGL, H×W metres, NaN = no data (dropped from SSE).
            scale_pred: predicted scale, pixels per metre.
            angle_pred: predicted angle, radians.
            agl_true: true AGL, H×W metres, NaN = no data (the pixel is not scored).
            scale_true: true scale, pixels per metre (must be finite).
            angle_true: true angle, radians (must be finite).
            name: how to name the image in ``failed`` (default: ``city``).

        A non-finite predicted scale or angle fails the city (it scores 0).
        """
        if not (math.isfinite(scale_true) and math.isfinite(angle_true)):
            raise ValueError(
                f"{name or city}: true scale/angle must be finite, got {scale_true}, {angle_true}"
            )
        if not (math.isfinite(scale_pred) and math.isfinite(angle_pred)):
            self.mark_failed(
                city,
                f"{name or city}: predicted scale/angle is not finite ({scale_pred}, {angle_pred})",
            )
            return
        pred = _as_f64(agl_pred, f"{name or city} prediction")
        true = _as_f64(agl_true, f"{name or city} truth")
        if pred.shape != true.shape:
            raise ValueError(
                f"{name or city}: prediction shape {pred.shape} != truth shape {true.shape}"
            )
        self._city(city).merge(
            _image_state(
                pred,
                float(scale_pred),
                float(angle_pred),
                true,
                float(scale_true),
                float(angle_true),
            )
        )

    def update_batch(self, pred: Mapping[str, Any], batch: Mapping[str, Any]) -> None:
        """Add a batch: ``pred`` from a model, ``batch`` as DESIGN.md §4 batches it.

        Uses ``pred["agl"]`` (B×1×H×W m), ``pred["scale"]`` (B, px/m), ``pred["angle"]``
        (B, rad) and ``batch["agl"]``, ``batch["valid"]`` (B×1×H×W), ``batch["scale"]``,
        ``batch["angle"]`` (B) and ``batch["city"]`` (B strings; ``batch["id"]`` names
        images when present). Truth pixels outside ``valid`` are not scored.
        """
        agl_p = _to_numpy(pred["agl"])
        scale_p, angle_p = _to_numpy(pred["scale"]), _to_numpy(pred["angle"])
        agl_t, valid = _to_numpy(batch["agl"]), _to_numpy(batch["valid"]).astype(bool)
        scale_t, angle_t = _to_numpy(batch["scale"]), _to_numpy(batch["angle"])
        cities = list(batch["city"])
        ids = list(batch.get("id", cities))
        for b, city in enumerate(cities):
            true = np.where(
                valid[b].reshape(agl_t.shape[-2:]), agl_t[b].reshape(agl_t.shape[-2:]), np.nan
            )
            self.update(
                str(city),
                agl_p[b].reshape(agl_p.shape[-2:]),
                float(scale_p.reshape(-1)[b]),
                float(angle_p.reshape(-1)[b]),
                true,
                float(scale_t.reshape(-1)[b]),
                float(angle_t.reshape(-1)[b]),
                name=str(ids[b]),
            )

    # ------------------------------------------------------------------ combine
    def merge(self, other: GeoposeMetric) -> GeoposeMetric:
        """Fold ``other`` into this accumulator (any order gives the same result); returns self."""
        for city in sorted(other.cities):
            src = other.cities[city]
            self._city(city).merge(CityState.from_floats(src.to_floats(), src.failed))
        return self

    def reset(self) -> None:
        """Forget everything."""
        self.cities = {}

    def state_dict(self, *, tensors: bool = False) -> dict[str, Any]:
        """``{"cities": {CITY: [floats in STATE_FIELDS order]}, "failed": {CITY: [str]}}``.

        With ``tensors=True`` each city's fields are a float64 tensor instead of a list.
        """
        cities: dict[str, Any] = {}
        for name, state in sorted(self.cities.items()):
            values = state.to_floats()
            cities[name] = torch.tensor(values, dtype=torch.float64) if tensors else values
        failed = {name: list(s.failed) for name, s in sorted(self.cities.items()) if s.failed}
        return {"fields": list(STATE_FIELDS), "cities": cities, "failed": failed}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> GeoposeMetric:
        """Rebuild an accumulator from :meth:`state_dict` (lists or tensors)."""
        fields = list(state.get("fields", STATE_FIELDS))
        if fields != list(STATE_FIELDS):
            raise ValueError(f"unknown metric state layout {fields}")
        out = cls()
        failed = state.get("failed", {})
        for name, values in state["cities"].items():
            if isinstance(values, torch.Tensor):
                values = values.detach().to(torch.float64).cpu().tolist()
            out.cities[name] = CityState.from_floats(values, failed.get(name, ()))
        return out

    def all_reduce(self, group: Any = None) -> GeoposeMetric:
        """Combine the accumulators of all torch.distributed processes, in place.

        Every rank gathers every rank's state (cities may differ between ranks) and
        merges them in rank order, so all ranks end with the same, deterministic state.
        Without an initialised process group this is a no-op. Returns self.
        """
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return self
        world = torch.distributed.get_world_size(group)
        gathered: list[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, self.state_dict(), group=group)
        self.reset()
        for state in gathered:
            self.merge(GeoposeMetric.from_state(state))
        return self

    # ------------------------------------------------------------------ results
    def compute(self) -> MetricResult:
        """Per-city results and the final score (mean over the cities present)."""
        cities = {name: _city_result(s) for name, s in sorted(self.cities.items())}
        if not cities:
            return MetricResult(math.nan, math.nan, math.nan, {})
        k = len(cities)
        return MetricResult(
            score=sum(c.score for c in cities.values()) / k,
            agl_r2=sum(c.agl_r2 for c in cities.values()) / k,
            vflow_r2=sum(c.vflow_r2 for c in cities.values()) / k,
            cities=cities,
        )


def _to_numpy(x: Any) -> NDArray[Any]:
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        return t.numpy() if t.dtype == torch.bool else t.to(torch.float64).numpy()
    return np.asarray(x)


def _image_state(
    pred: NDArray[np.float64],
    scale_pred: float,
    angle_pred: float,
    true: NDArray[np.float64],
    scale_true: float,
    angle_true: float,
) -> CityState:
    """Sufficient statistics of one image (AGL in metres, scale px/m, angles rad).

    The flow components are ``agl·a`` and ``agl·b`` with ``(a, b) = scale·(sin θ, cos θ)``,
    so the statistics of the true flow follow from those of the true AGL without
    building the H×W×2 field (see :func:`_flow_stats`).
    """
    t_ok = np.isfinite(true)
    t = true[t_ok]
    p = pred[t_ok]  # NaN where the prediction is no-data: nansum drops those terms
    both = ~np.isnan(p)
    tb, pb = t[both], p[both]
    dx_true, dy_true = angle_to_direction(float(angle_true))
    dx_pred, dy_pred = angle_to_direction(float(angle_pred))
    at, bt = scale_true * dx_true, scale_true * dy_true
    ap, bp = scale_pred * dx_pred, scale_pred * dy_pred
    ex, ey = pb * ap - tb * at, pb * bp - tb * bt
    flow_sq = ex * ex + ey * ey  # squared end-point error per pixel (px²)
    agl_sq = np.square(pb - tb)
    agl = RunningStats.of(t)
    return CityState(
        images=1.0,
        agl=agl,
        agl_sse=float(agl_sq.sum()),
        vflow=_flow_stats(agl, at, bt),
        vflow_sse=float(flow_sq.sum()),
        angle_error_sum=float(np.degrees(angle_difference(angle_pred, angle_true))),
        scale_error_sum=abs(scale_pred - scale_true),
        both_n=float(both.sum()),
        agl_sq_sum=float(agl_sq.sum()),
        epe_sum=float(np.sqrt(flow_sq).sum()),
        pred_nodata=float(np.isnan(pred).sum()),
    )


def _flow_stats(agl: RunningStats, a: float, b: float) -> RunningStats:
    """Statistics of the pooled values ``{x·a} ∪ {x·b}`` from those of ``{x}`` (exact).

    ``Σ (x·a − μ)² = a²·M2 + n·(a·mean − μ)²``, and the same for ``b``.
    """
    if agl.n == 0:
        return RunningStats()
    mu = agl.mean * (a + b) / 2
    m2 = (a * a + b * b) * agl.m2 + agl.n * ((a * agl.mean - mu) ** 2 + (b * agl.mean - mu) ** 2)
    return RunningStats(2 * agl.n, mu, m2)


def _city_result(s: CityState) -> CityResult:
    scored = s.images - len(s.failed)
    agl_r2 = 0.0 if s.failed else r2_from(s.agl, s.agl_sse)
    vflow_r2 = 0.0 if s.failed else r2_from(s.vflow, s.vflow_sse)
    return CityResult(
        agl_r2=agl_r2,
        vflow_r2=vflow_r2,
        score=(agl_r2 + vflow_r2) / 2,
        angle_error_deg=_mean(s.angle_error_sum, scored),
        scale_error=_mean(s.scale_error_sum, scored),
        agl_rmse=math.sqrt(s.agl_sq_sum / s.both_n) if s.both_n > 0 else math.nan,
        epe=_mean(s.epe_sum, s.both_n),
        images=round(s.images),
        pred_nodata=round(s.pred_nodata),
        failed=tuple(s.failed),
    )
