"""Masked training losses: a weighted sum of named terms, each reported separately.

Inputs follow DESIGN.md §4. ``pred`` is a model's output dict: ``agl`` B×1×H×W (m),
``mag`` B×1×H×W (px), ``scale`` B (px/m), ``direction`` B×2 (dx, dy). ``batch`` holds
``agl`` B×1×H×W (m, no-data set to 0), ``valid`` B×1×H×W bool, ``scale`` B (px/m),
``angle`` B (rad) and ``city`` (B strings).

Rules every term keeps:

* Boolean masks with ``torch.where`` — never a multiplication of a target by 0 — so
  whatever a target holds under the no-data mask (0, NaN, inf, 1e9) changes neither a
  loss nor its gradients.
* Means are over **valid** pixels only (pooled over the batch); a tile with no valid
  pixel contributes nothing, and a batch without any gives 0, not NaN.
* All arithmetic is float32 with autocast disabled, whatever the input dtype.

Build a loss from config with :func:`build_loss`::

    loss = build_loss({"agl_huber": {"weight": 1.0, "delta": 10.0},
                       "mag_huber": {"weight": 1.0, "delta": 5.0},
                       "direction_cos_mse": 1.0, "scale_mse": 1.0})
    total, terms = loss(pred, batch)      # terms: {name: unweighted value (detached)}

A term's config is a weight or a mapping with ``weight`` (default 1), an optional
``kind`` (default: the term's name, so one kind can appear twice under two names) and
the kind's parameters. Kinds: ``{agl,mag}_{huber,mse,l1}`` (``delta``, ``trim``,
``tall_m``: weigh pixels by their true height),
``{agl,mag}_trimmed_{huber,mse,l1}`` (``trim`` defaults to 0.2), ``direction_cos_mse``,
``scale_{mse,l1,huber}``, ``agl_city_r2`` (per-city R² with reference means, the 1st
place's loss) and ``lean_bce`` (the lean mask of a ``lean_orientation`` head; ``low``,
``high``, ``pos_weight``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geopose.config import default_loss_terms
from geopose.conventions import angle_to_direction_torch
from geopose.errors import UsageError
from geopose.models.blocks import height_gradient
from geopose.precision import no_autocast

#: Per-city mean AGL (m) that the 2021 challenge's 1st place used as R² reference means
#: (its published solution).
CITY_MEAN_AGL: dict[str, float] = {"ARG": 3.86, "ATL": 8.44, "JAX": 4.43, "OMA": 2.27}

#: Huber δ of the 2nd place: 10 m for AGL, 5 px for the flow magnitude.
HUBER_DELTA = {"agl": 10.0, "mag": 5.0}


# ----------------------------------------------------------------------------- helpers
def _f32(x: Tensor) -> Tensor:
    return x.to(torch.float32)


def _no_autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Autocast off on ``device``'s type (a no-op on devices without autocast: ``meta``)."""
    return no_autocast(device.type)


def _get(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise KeyError(f"loss needs {where}[{key!r}], which is missing")
    return mapping[key]


def masked_residual(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """``pred − target`` in float32 where ``valid``, exactly 0 elsewhere (no NaN can leak)."""
    if pred.shape != target.shape or valid.shape != pred.shape:
        raise ValueError(
            f"shape mismatch: pred {tuple(pred.shape)}, target {tuple(target.shape)}, "
            f"valid {tuple(valid.shape)}"
        )
    clean_target = torch.where(valid, _f32(target), torch.zeros((), device=target.device))
    return torch.where(valid, _f32(pred) - clean_target, torch.zeros((), device=pred.device))


def elementwise(residual: Tensor, fn: str, delta: float = 1.0) -> Tensor:
    """Per-element loss of a residual: ``mse`` r², ``l1`` |r| or ``huber`` with ``delta``.

    Huber is ``r²/2`` for ``|r| ≤ δ`` and ``δ(|r| − δ/2)`` beyond (same units as ``r²``).
    """
    if fn == "mse":
        return residual.square()
    if fn == "l1":
        return residual.abs()
    if fn == "huber":
        a = residual.abs()
        return torch.where(a <= delta, 0.5 * a.square(), delta * (a - 0.5 * delta))
    raise ValueError(f"unknown pixel loss {fn!r} (use mse, l1 or huber)")


def masked_mean(values: Tensor, valid: Tensor, trim: float = 0.0) -> Tensor:
    """Mean of ``values`` over ``valid`` entries, pooled over the batch.

    With ``trim`` in [0, 1), each tile (first axis) drops its largest ``trim`` fraction
    of valid values first (a trimmed loss). No valid entry at all gives 0.
    """
    zero = torch.zeros((), device=values.device, dtype=values.dtype)
    if trim <= 0.0:
        total = torch.where(valid, values, zero).sum()
        return total / valid.sum().clamp(min=1).to(values.dtype)
    flat = torch.where(valid, values, torch.full((), math.inf, device=values.device)).flatten(1)
    ordered = torch.sort(flat, dim=1).values
    n_valid = valid.flatten(1).sum(dim=1)
    keep_n = torch.floor(n_valid.to(torch.float64) * (1.0 - trim)).to(torch.long)
    keep = torch.arange(flat.shape[1], device=flat.device)[None, :] < keep_n[:, None]
    total = torch.where(keep, ordered, zero).sum()
    return total / keep_n.sum().clamp(min=1).to(values.dtype)


def _labels_ok(batch: Mapping[str, Any]) -> Tensor:
    scale = _f32(_get(batch, "scale", "batch"))
    angle = _f32(_get(batch, "angle", "batch"))
    return torch.isfinite(scale) & torch.isfinite(angle)


# ----------------------------------------------------------------------------- terms
class LossTerm(nn.Module):
    """One named loss term: ``forward(pred, batch) -> scalar`` in float32."""

    def forward(self, pred: Mapping[str, Tensor], batch: Mapping[str, Any]) -> Tensor:
        raise NotImplementedError


class PixelLoss(LossTerm):
    """Masked per-pixel loss on ``agl`` (m) or ``mag`` (px; target = true AGL · scale).

    Args:
        target: ``"agl"`` or ``"mag"``.
        fn: ``"huber"``, ``"mse"`` or ``"l1"``.
        delta: Huber threshold in the target's unit (m or px).
        trim: fraction of the largest per-pixel losses of each tile to ignore.
        tall_m: with a value h (m), each valid pixel weighs ``1 + true AGL / h`` and the
            loss is the weighted mean — so the few tall roofs of a mostly flat tile are
            not averaged away (h = 10: a 50 m roof counts 6 times a street pixel).
            ``None``: every valid pixel weighs 1.
    """

    def __init__(
        self,
        target: str,
        fn: str,
        delta: float | None = None,
        trim: float = 0.0,
        tall_m: float | None = None,
    ):
        super().__init__()
        if target not in ("agl", "mag"):
            raise ValueError(f"pixel loss target must be agl or mag, got {target!r}")
        if not 0.0 <= trim < 1.0:
            raise ValueError(f"trim must be in [0, 1), got {trim}")
        if tall_m is not None and not (math.isfinite(tall_m) and tall_m > 0):
            raise ValueError(f"tall_m must be a positive number of metres, got {tall_m}")
        if tall_m is not None and trim > 0:
            # Which pixels a trim drops depends on the weights and the other way round;
            # neither order has an obvious meaning, so the two are not combined.
            raise ValueError("tall_m and trim cannot be combined")
        self.target, self.fn, self.trim = target, fn, float(trim)
        self.tall_m = None if tall_m is None else float(tall_m)
        self.delta = float(HUBER_DELTA[target] if delta is None else delta)
        if self.delta <= 0:
            raise ValueError(f"delta must be positive, got {self.delta}")
        elementwise(torch.zeros(1), fn, self.delta)  # reject an unknown fn now

    def forward(self, pred: Mapping[str, Tensor], batch: Mapping[str, Any]) -> Tensor:
        valid = _get(batch, "valid", "batch").to(torch.bool)
        truth = agl = _f32(_get(batch, "agl", "batch"))
        if self.target == "mag":
            scale = _f32(_get(batch, "scale", "batch"))
            ok = _labels_ok(batch).view(-1, *([1] * (valid.dim() - 1)))
            valid = valid & ok
            scale = torch.where(ok, scale.view_as(ok), torch.zeros((), device=scale.device))
            truth = torch.where(valid, truth, torch.zeros((), device=truth.device)) * scale
        residual = masked_residual(_get(pred, self.target, "pred"), truth, valid)
        values = elementwise(residual, self.fn, self.delta)
        if self.tall_m is None:
            return masked_mean(values, valid, self.trim)
        zero = torch.zeros((), device=values.device)
        # Weights from the true heights (clamped at 0); no-data pixels weigh nothing,
        # whatever their AGL holds.
        weight = torch.where(valid, 1.0 + agl.clamp(min=0.0) / self.tall_m, zero)
        total = torch.where(valid, values * weight, zero).sum()
        return total / weight.sum().clamp(min=1.0)


class DirectionLoss(LossTerm):
    """Cosine + MSE loss of the flow direction (dx, dy), weighted per tile by its flow.

    Per tile: ``cos_weight · (1 − cos(pred, true)) + mse_weight · mean((pred − true)²)``
    with ``true = (sin θ, cos θ)``. With ``flow_weighted`` (default) tiles are averaged
    with weights ``scale · mean valid AGL`` (px of mean flow, no gradient): a flat or
    near-nadir tile shows no direction and teaches nothing; otherwise equal weights.
    """

    def __init__(
        self, cos_weight: float = 1.0, mse_weight: float = 0.1, flow_weighted: bool = True
    ):
        super().__init__()
        self.cos_weight, self.mse_weight = float(cos_weight), float(mse_weight)
        self.flow_weighted = bool(flow_weighted)

    def forward(self, pred: Mapping[str, Tensor], batch: Mapping[str, Any]) -> Tensor:
        p = _f32(_get(pred, "direction", "pred"))
        ok = _labels_ok(batch)
        zero = torch.zeros((), device=p.device)
        angle = torch.where(ok, _f32(batch["angle"]), zero)
        t = angle_to_direction_torch(angle, dim=1)
        cos = (p * t).sum(dim=1) / p.norm(dim=1).clamp(min=1e-6)
        per_tile = self.cos_weight * (1.0 - cos) + self.mse_weight * (p - t).square().mean(1)
        flat = torch.ones_like(per_tile)
        weight = self._flow(batch).to(p.device) if self.flow_weighted else flat
        weight = torch.where(ok, weight, zero)
        total = torch.where(weight > 0, weight * per_tile, zero).sum()
        return total / weight.sum().clamp(min=1e-12)

    @staticmethod
    def _flow(batch: Mapping[str, Any]) -> Tensor:
        """Mean flow magnitude of each tile over its valid pixels (px), 0 without any."""
        valid = _get(batch, "valid", "batch").to(torch.bool).flatten(1)
        agl = _f32(_get(batch, "agl", "batch")).flatten(1)
        zero = torch.zeros((), device=agl.device)
        mean_agl = torch.where(valid, agl, zero).sum(1) / valid.sum(1).clamp(min=1)
        scale = _f32(batch["scale"]).reshape(-1)
        ok = torch.isfinite(scale) & torch.isfinite(mean_agl)
        return torch.where(ok, scale * mean_agl, zero).clamp(min=0).detach()


def _log_scale(scale: Tensor) -> tuple[Tensor, Tensor]:
    """``(ln scale, usable)`` of true scales (px/m); 0 where a scale is not a positive
    number (``usable`` False), so no NaN can leak into a loss."""
    usable = torch.isfinite(scale) & (scale > 0)
    return torch.log(torch.where(usable, scale, torch.ones_like(scale))), usable


class ScaleLoss(LossTerm):
    """Loss of the predicted scale (px/m) against the true one, mean over tiles.

    ``log: true`` takes the residual of ``ln(scale)`` (a relative error): a scale of 0.3
    px/m that is 0.1 off is as wrong as one of 2 px/m that is 0.7 off, and the term's
    size no longer depends on the GSD of the batch's cities.
    """

    def __init__(self, fn: str = "mse", delta: float = 1.0, log: bool = False):
        super().__init__()
        self.fn, self.delta, self.log = fn, float(delta), bool(log)
        elementwise(torch.zeros(1), fn, self.delta)

    def forward(self, pred: Mapping[str, Tensor], batch: Mapping[str, Any]) -> Tensor:
        p = _f32(_get(pred, "scale", "pred")).reshape(-1)
        truth = _f32(batch["scale"]).reshape(-1)
        ok = _labels_ok(batch).reshape(-1)
        if self.log:
            truth, positive = _log_scale(truth)
            ok = ok & positive
            p = torch.log(p.clamp_min(1e-6))
        residual = masked_residual(p, truth, ok)
        return masked_mean(elementwise(residual, self.fn, self.delta), ok)


class CityR2Loss(LossTerm):
    """Per-city ``1 − R²`` of AGL, i.e. ``SSE_c / (SST_c + eps)``, averaged over cities.

    SST uses a fixed reference mean per city (the 1st place's idea: a stable
    denominator that a single crop cannot swing), from ``city_means`` (m; default
    :data:`CITY_MEAN_AGL`); a city without one uses its batch mean of valid truth (or
    ``default_mean`` when given). ``eps`` (m²) guards the division.
    """

    def __init__(
        self,
        city_means: Mapping[str, float] | None = None,
        default_mean: float | None = None,
        eps: float = 1e-3,
    ):
        super().__init__()
        self.city_means = dict(CITY_MEAN_AGL if city_means is None else city_means)
        self.default_mean = default_mean
        self.eps = float(eps)

    def forward(self, pred: Mapping[str, Tensor], batch: Mapping[str, Any]) -> Tensor:
        valid = _get(batch, "valid", "batch").to(torch.bool)
        residual = masked_residual(_get(pred, "agl", "pred"), batch["agl"], valid)
        zero = torch.zeros((), device=residual.device)
        truth = torch.where(valid, _f32(batch["agl"]), zero)
        cities = [str(c) for c in _get(batch, "city", "batch")]
        total = residual.sum() * 0.0  # keeps the graph when no city has a valid pixel
        count = 0
        for city in sorted(set(cities)):
            rows = torch.tensor([c == city for c in cities], device=valid.device)
            mask = valid & rows.view(-1, *([1] * (valid.dim() - 1)))
            n = mask.sum()
            if int(n) == 0:
                continue
            ref = self._reference(city, truth, mask, n)
            sse = torch.where(mask, residual.square(), zero).sum()
            sst = torch.where(mask, (truth - ref).square(), zero).sum()
            total = total + sse / (sst + self.eps)
            count += 1
        return total / max(count, 1)

    def _reference(self, city: str, truth: Tensor, mask: Tensor, n: Tensor) -> Tensor | float:
        if city in self.city_means:
            return float(self.city_means[city])
        if self.default_mean is not None:
            return float(self.default_mean)
        return (torch.where(mask, truth, torch.zeros((), device=truth.device)).sum() / n).detach()


# ----------------------------------------------------------------------------- composite
class GeoposeLoss(nn.Module):
    """Weighted sum of named :class:`LossTerm` s.

    ``forward(pred, batch)`` returns ``(total, {name: unweighted term value})``; the
    reported values are detached. Everything runs in float32 with autocast disabled.
    """

    def __init__(self, terms: Mapping[str, tuple[float, LossTerm]]):
        super().__init__()
        if not terms:
            raise UsageError("a loss needs at least one term")
        self.weights = {name: float(w) for name, (w, _) in terms.items()}
        self.terms = nn.ModuleDict({name: term for name, (_, term) in terms.items()})

    def forward(
        self, pred: Mapping[str, Tensor], batch: Mapping[str, Any]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        device = _get(pred, "agl", "pred").device if "agl" in pred else torch.device("cpu")
        values: dict[str, Tensor] = {}
        weighted: list[Tensor] = []
        with _no_autocast(device):
            for name, term in self.terms.items():
                value = term(pred, batch)
                values[name] = value.detach()
                weighted.append(self.weights[name] * value)
            total = torch.stack(weighted).sum()
        return total, values


def _auxiliary(pred: Mapping[str, Tensor], key: str, term: str, needs: str) -> Tensor:
    """The training-mode output ``key`` (float32) that loss ``term`` reads; a clear error
    naming the model part it ``needs`` when the model does not return it."""
    if key not in pred:
        raise UsageError(
            f"loss term {term} needs {needs} (it reads the {key} output, returned in training mode)"
        )
    return _f32(pred[key])


class LeanMaskLoss(LossTerm):
    """Binary cross-entropy of the lean mask (``lean_logits``, see
    :mod:`geopose.models.head_lean_orientation`) against the pixels that show the lean.

    A pixel shows the lean when the true AGL's gradient magnitude (m/px) lies between
    ``low / scale`` and ``high / scale``: a facade's height falls by ``1 / scale`` m per
    pixel of lean, while flat ground has slope 0 and a roof's outline is a step. The
    rule uses no direction, so it is the same under any rotation or flip. Pixels next to
    no-data and tiles without finite labels are left out.
    """

    def __init__(
        self,
        low: float = 0.3,
        high: float = 3.0,
        pos_weight: float = 1.0,
        min_cos: float | None = None,
    ):
        super().__init__()
        if not 0.0 <= low < high:
            raise ValueError(f"need 0 ≤ low < high, got low {low}, high {high}")
        if not pos_weight > 0:
            raise ValueError(f"pos_weight must be positive, got {pos_weight}")
        if min_cos is not None and not -1.0 <= min_cos <= 1.0:
            raise ValueError(f"min_cos must be in [-1, 1], got {min_cos}")
        self.low, self.high, self.pos_weight = float(low), float(high), float(pos_weight)
        self.min_cos = None if min_cos is None else float(min_cos)

    def target(
        self, agl: Tensor, valid: Tensor, scale: Tensor, angle: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(label, counted)`` B×1×H×W bool maps from true AGL (m), valid, scale (px/m)
        and, with ``min_cos``, the flow angle (rad)."""
        gx, gy = height_gradient(torch.where(valid, agl, torch.zeros((), device=agl.device)))
        slope = torch.sqrt(gx * gx + gy * gy)
        ok = torch.isfinite(scale) & (scale > 0)
        unit = torch.where(ok, 1.0 / scale.clamp(min=1e-6), torch.zeros_like(scale))
        unit = unit.view(-1, 1, 1, 1)
        label = (slope >= self.low * unit) & (slope <= self.high * unit)
        if self.min_cos is not None and angle is not None:
            ok = ok & torch.isfinite(angle)
            a = torch.where(torch.isfinite(angle), angle, torch.zeros_like(angle))
            d = angle_to_direction_torch(a, dim=1)
            dx, dy = d[:, 0].view(-1, 1, 1, 1), d[:, 1].view(-1, 1, 1, 1)
            label = label & (-(gx * dx + gy * dy) >= self.min_cos * slope)
        # A central difference reads both neighbours: count pixels whose 3×3 box is valid.
        box = -F.max_pool2d(-(valid.float()), 3, stride=1, padding=1) > 0.5
        return label, box & ok.view(-1, 1, 1, 1)

    def batch_target(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """:meth:`target` of a batch's labels."""
        valid = _get(batch, "valid", "batch").to(torch.bool)
        agl = _f32(_get(batch, "agl", "batch"))
        scale = _f32(_get(batch, "scale", "batch")).reshape(-1)
        angle = None
        if self.min_cos is not None:
            angle = _f32(_get(batch, "angle", "batch")).reshape(-1)
        return self.target(agl, valid, scale, angle)

    def forward(self, pred: Mapping[str, Tensor], batch: Mapping[str, Any]) -> Tensor:
        logits = _auxiliary(pred, "lean_logits", "lean_bce", "a model with a lean_orientation head")
        label, counted = self.batch_target(batch)
        with _no_autocast(logits.device):
            weight = torch.tensor(self.pos_weight, device=logits.device)
            per_px = F.binary_cross_entropy_with_logits(
                logits, label.float(), pos_weight=weight, reduction="none"
            )
        return masked_mean(per_px, counted)


class DenseScaleLoss(LossTerm):
    """L1 of per-pixel log-scale estimates (``log_scale_map``, ln px/m; see the
    ``attention`` pool of :mod:`geopose.models.head_global_scale`) against the image's
    true ``ln(scale)`` on the pixels that show the lean.

    On a facade the true AGL falls by ``1 / scale`` m per pixel, so there the scale is a
    local fact of the image, and every lean pixel is a label; the per-image scale loss
    gives one label per tile. The pixels are those of :class:`LeanMaskLoss` (its
    ``low``, ``high``); a batch without any gives 0.
    """

    def __init__(self, low: float = 0.3, high: float = 3.0):
        super().__init__()
        self.lean = LeanMaskLoss(low=low, high=high)

    def forward(self, pred: Mapping[str, Tensor], batch: Mapping[str, Any]) -> Tensor:
        estimate = _auxiliary(
            pred, "log_scale_map", "scale_dense", "a global_scale head with pool: attention"
        )
        label, counted = self.lean.batch_target(batch)
        log_truth = _log_scale(_f32(batch["scale"]).reshape(-1))[0].view(-1, 1, 1, 1)
        use = label & counted
        residual = masked_residual(estimate, log_truth.expand_as(estimate), use)
        return masked_mean(residual.abs(), use)


def _pixel(target: str, fn: str, trim: float = 0.0) -> Callable[..., LossTerm]:
    def make(
        delta: float | None = None, trim: float = trim, tall_m: float | None = None
    ) -> LossTerm:
        return PixelLoss(target, fn, delta=delta, trim=trim, tall_m=tall_m)

    return make


def loss_kinds() -> dict[str, Callable[..., LossTerm]]:
    """Every term kind :func:`build_loss` knows, mapped to its factory."""
    kinds: dict[str, Callable[..., LossTerm]] = {}
    for target in ("agl", "mag"):
        for fn in ("huber", "mse", "l1"):
            kinds[f"{target}_{fn}"] = _pixel(target, fn)
            kinds[f"{target}_trimmed_{fn}"] = _pixel(target, fn, trim=0.2)
    kinds["direction_cos_mse"] = DirectionLoss
    for fn in ("mse", "l1", "huber"):
        kinds[f"scale_{fn}"] = lambda fn=fn, **kw: ScaleLoss(fn=fn, **kw)
    kinds["agl_city_r2"] = CityR2Loss
    kinds["lean_bce"] = LeanMaskLoss
    kinds["scale_dense"] = DenseScaleLoss
    return kinds


def build_loss(terms: Mapping[str, float | Mapping[str, Any]] | None = None) -> GeoposeLoss:
    """Build the composite loss from ``{name: weight | {weight, kind, **params}}``.

    A term of weight 0 is switched off: validated, but not built into the loss (so it
    is neither computed nor reported). Raises :class:`UsageError` naming the term for an
    unknown kind or parameter.
    """
    config = default_loss_terms() if terms is None else terms
    kinds = loss_kinds()
    built: dict[str, tuple[float, LossTerm]] = {}
    for name, spec in config.items():
        params = {"weight": spec} if isinstance(spec, (int, float)) else dict(spec)
        weight = params.pop("weight", 1.0)
        kind = params.pop("kind", name)
        if kind not in kinds:
            raise UsageError(
                f"loss term {name!r}: unknown kind {kind!r} (known: {', '.join(sorted(kinds))})"
            )
        if not (isinstance(weight, (int, float)) and math.isfinite(weight)):
            raise UsageError(f"loss term {name!r}: weight must be a finite number, got {weight!r}")
        try:
            term = kinds[kind](**params)
        except (TypeError, ValueError) as err:
            raise UsageError(f"loss term {name!r} ({kind}): {err}") from None
        if weight == 0:
            # Switched off (load_config's way to drop a term a recipe file sets): checked
            # above, but neither computed nor reported, so a term whose inputs the model
            # lacks (lean_bce without a lean head) can be switched off too.
            continue
        built[name] = (float(weight), term)
    return GeoposeLoss(built)
