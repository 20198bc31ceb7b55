"""Tests of geopose.losses: numpy references, mask invariance, fp32 under autocast."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geopose.errors import UsageError
from geopose.losses import CITY_MEAN_AGL, LeanMaskLoss, build_loss, loss_kinds

B, H, W = 4, 12, 10
CITIES = ["JAX", "OMA", "JAX", "XYZ"]


def make_batch(seed: int = 0) -> tuple[dict, dict]:
    """A batch (DESIGN §4) and predictions; tile 3 has no valid pixel at all."""
    g = torch.Generator().manual_seed(seed)
    agl = torch.rand(B, 1, H, W, generator=g) * 30.0
    valid = torch.rand(B, 1, H, W, generator=g) > 0.25
    valid[3] = False
    agl = torch.where(valid, agl, torch.zeros(()))
    batch = {
        "agl": agl,
        "valid": valid,
        "scale": torch.rand(B, generator=g) * 2.0 + 0.2,
        "angle": torch.rand(B, generator=g) * 2 * math.pi,
        "gsd": torch.full((B,), 0.3),
        "city": list(CITIES),
    }
    pred_agl = agl + torch.randn(B, 1, H, W, generator=g) * 12.0
    pred = {
        "agl": pred_agl.requires_grad_(),
        "mag": (pred_agl.detach() * 1.3 + torch.randn(B, 1, H, W, generator=g)).requires_grad_(),
        "scale": (batch["scale"] + torch.randn(B, generator=g) * 0.3).requires_grad_(),
        "direction": torch.randn(B, 2, generator=g).requires_grad_(),
        "lean_logits": torch.randn(B, 1, H, W, generator=g).requires_grad_(),
        "log_scale_map": torch.randn(B, 1, H, W, generator=g).requires_grad_(),
    }
    return pred, batch


ALL_TERMS = sorted(loss_kinds())


def single(kind: str, **params) -> torch.nn.Module:
    return build_loss({kind: {"weight": 1.0, **params}})


def value(kind: str, pred: dict, batch: dict, **params) -> float:
    total, terms = single(kind, **params)(pred, batch)
    assert terms[kind].item() == pytest.approx(total.item())
    return total.item()


def np_(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy()


def ref_pixel(
    pred: np.ndarray, true: np.ndarray, valid: np.ndarray, fn: str, delta: float, trim: float = 0.0
) -> float:
    kept = []
    for b in range(pred.shape[0]):
        r = pred[b][valid[b]] - true[b][valid[b]]
        if fn == "mse":
            loss = r**2
        elif fn == "l1":
            loss = np.abs(r)
        else:
            loss = np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
        loss = np.sort(loss)[: math.floor(loss.size * (1 - trim))]
        kept.append(loss)
    allv = np.concatenate(kept)
    return float(allv.mean()) if allv.size else 0.0


@pytest.mark.parametrize("fn", ["huber", "mse", "l1"])
@pytest.mark.parametrize("target", ["agl", "mag"])
@pytest.mark.parametrize("trim", [0.0, 0.3])
def test_pixel_losses_match_numpy(fn: str, target: str, trim: float) -> None:
    pred, batch = make_batch()
    valid = np_(batch["valid"]).astype(bool)
    true = np_(batch["agl"])
    if target == "mag":
        true = true * np_(batch["scale"])[:, None, None, None]
    delta = {"agl": 10.0, "mag": 5.0}[target]
    ref = ref_pixel(np_(pred[target]), true, valid, fn, delta, trim)
    got = value(f"{target}_{fn}", pred, batch, trim=trim)
    assert got == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("fn", ["huber", "mse", "l1"])
@pytest.mark.parametrize("target", ["agl", "mag"])
def test_height_weighted_pixel_losses_match_numpy(fn: str, target: str) -> None:
    # tall_m = h: each valid pixel weighs 1 + true AGL / h; a weighted mean over the batch.
    pred, batch = make_batch()
    valid = np_(batch["valid"]).astype(bool)
    agl = np_(batch["agl"])
    true = agl * np_(batch["scale"])[:, None, None, None] if target == "mag" else agl
    r = (np_(pred[target]) - true)[valid]
    delta = {"agl": 10.0, "mag": 5.0}[target]
    per_px = {"mse": r**2, "l1": np.abs(r)}.get(fn)
    if per_px is None:
        per_px = np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
    w = 1.0 + agl[valid] / 7.0
    ref = float((per_px * w).sum() / w.sum())
    assert value(f"{target}_{fn}", pred, batch, tall_m=7.0) == pytest.approx(ref, rel=1e-5)
    assert ref != pytest.approx(ref_pixel(np_(pred[target]), true, valid, fn, delta), rel=1e-3)


def test_height_weighting_gives_a_tall_pixel_its_share_of_the_gradient() -> None:
    # Two valid pixels with the same error, one on the street and one on a 50 m roof:
    # with tall_m = 10 the roof's gradient is 6 times the street's, without it equal.
    agl = torch.tensor([[[[0.0, 50.0, 7.0]]]])
    batch = {"agl": agl, "valid": torch.tensor([[[[True, True, False]]]]),
             "scale": torch.ones(1), "angle": torch.zeros(1)}  # fmt: skip
    for tall_m, ratio in ((10.0, 6.0), (None, 1.0)):
        pred = {"agl": (agl + 3.0).requires_grad_()}
        total, _ = single("agl_mse", tall_m=tall_m)(pred, batch)
        grad = torch.autograd.grad(total, pred["agl"])[0].flatten()
        assert grad[1].item() == pytest.approx(ratio * grad[0].item(), rel=1e-6)
        assert grad[2].item() == 0.0  # no-data


@pytest.mark.parametrize("junk", [float("nan"), float("inf"), 1e9])
def test_height_weights_ignore_what_no_data_pixels_hold(junk: float) -> None:
    pred, batch = make_batch()
    loss = single("mag_huber", tall_m=10.0)
    total, _ = loss(pred, batch)
    batch2 = dict(batch, agl=torch.where(batch["valid"], batch["agl"], torch.tensor(junk)))
    total2, _ = loss(pred, batch2)
    assert torch.equal(total, total2)
    grads = torch.autograd.grad(total2, [pred["mag"]])[0]
    assert torch.isfinite(grads).all()
    batch2["valid"] = torch.zeros_like(batch["valid"])
    assert loss(pred, batch2)[0].item() == 0.0


def test_trimmed_kind_defaults_to_twenty_percent() -> None:
    pred, batch = make_batch()
    assert value("agl_trimmed_l1", pred, batch) == pytest.approx(
        value("agl_l1", pred, batch, trim=0.2), rel=1e-6
    )
    assert value("agl_trimmed_l1", pred, batch) < value("agl_l1", pred, batch)


def test_huber_delta_is_used() -> None:
    pred, batch = make_batch()
    valid = np_(batch["valid"]).astype(bool)
    ref = ref_pixel(np_(pred["agl"]), np_(batch["agl"]), valid, "huber", 2.0)
    assert value("agl_huber", pred, batch, delta=2.0) == pytest.approx(ref, rel=1e-5)


def test_direction_loss_matches_numpy() -> None:
    pred, batch = make_batch()
    p = np_(pred["direction"])
    ang = np_(batch["angle"])
    t = np.stack([np.sin(ang), np.cos(ang)], 1)
    cos = (p * t).sum(1) / np.linalg.norm(p, axis=1)
    per = (1 - cos) + 0.1 * ((p - t) ** 2).mean(1)
    valid = np_(batch["valid"]).astype(bool)
    agl = np_(batch["agl"])
    w = np.array(
        [
            np_(batch["scale"])[b] * agl[b][valid[b]].mean() if valid[b].any() else 0.0
            for b in range(B)
        ]
    )
    assert w[3] == 0.0
    ref = float((w * per).sum() / w.sum())
    assert value("direction_cos_mse", pred, batch) == pytest.approx(ref, rel=1e-5)
    unweighted = value("direction_cos_mse", pred, batch, flow_weighted=False)
    assert unweighted == pytest.approx(float(per.mean()), rel=1e-5)


def test_scale_mse_matches_numpy() -> None:
    pred, batch = make_batch()
    ref = float(np.mean((np_(pred["scale"]) - np_(batch["scale"])) ** 2))
    assert value("scale_mse", pred, batch) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("fn", ["mse", "l1"])
def test_log_scale_loss_matches_numpy_and_ignores_tiles_without_a_scale(fn: str) -> None:
    pred, batch = make_batch()
    p, t = np_(pred["scale"]).clip(1e-6), np_(batch["scale"])
    r = np.log(p) - np.log(t)
    ref = float(np.mean(r**2 if fn == "mse" else np.abs(r)))
    assert value(f"scale_{fn}", pred, batch, log=True) == pytest.approx(ref, rel=1e-5)
    # Relative: scaling truth and prediction together leaves the loss unchanged.
    doubled = {**batch, "scale": batch["scale"] * 2}
    pred2 = {**pred, "scale": pred["scale"] * 2}
    assert value(f"scale_{fn}", pred2, doubled, log=True) == pytest.approx(ref, rel=1e-4)
    # A tile whose true scale is 0 or NaN adds nothing and cannot make the loss NaN.
    broken = {**batch, "scale": batch["scale"].clone()}
    broken["scale"][0], broken["scale"][1] = 0.0, float("nan")
    rest = r[2:]
    ref_rest = float(np.mean(rest**2 if fn == "mse" else np.abs(rest)))
    assert value(f"scale_{fn}", pred, broken, log=True) == pytest.approx(ref_rest, rel=1e-5)


def test_city_r2_matches_numpy() -> None:
    pred, batch = make_batch()
    p, t = np_(pred["agl"]), np_(batch["agl"])
    valid = np_(batch["valid"]).astype(bool)
    ratios = []
    for city in sorted(set(CITIES)):
        rows = np.array([c == city for c in CITIES])
        mask = valid & rows[:, None, None, None]
        if not mask.any():
            continue  # XYZ: its only tile has no valid pixel
        ref = CITY_MEAN_AGL[city]
        ratios.append(((p[mask] - t[mask]) ** 2).sum() / (((t[mask] - ref) ** 2).sum() + 1e-3))
    assert len(ratios) == 2
    assert value("agl_city_r2", pred, batch) == pytest.approx(float(np.mean(ratios)), rel=1e-5)


def test_city_r2_unknown_city_uses_its_batch_mean() -> None:
    pred, batch = make_batch()
    batch["valid"][3] = batch["valid"][0]
    p, t = np_(pred["agl"]), np_(batch["agl"])
    mask = np_(batch["valid"]).astype(bool)[3]
    m = t[3][mask].mean()
    ref = ((p[3][mask] - t[3][mask]) ** 2).sum() / (((t[3][mask] - m) ** 2).sum() + 1e-3)
    got = value("agl_city_r2", pred, batch, city_means={})
    others = []
    for b_rows in ([0, 2], [1]):
        mm = np_(batch["valid"]).astype(bool)[b_rows]
        tt, pp = t[b_rows][mm], p[b_rows][mm]
        others.append(((pp - tt) ** 2).sum() / (((tt - tt.mean()) ** 2).sum() + 1e-3))
    assert got == pytest.approx(float(np.mean([*others, ref])), rel=1e-5)


@pytest.mark.parametrize("kind", ALL_TERMS)
@pytest.mark.parametrize("junk", [float("nan"), float("inf"), 1e9])
def test_values_under_mask_change_nothing(kind: str, junk: float) -> None:
    pred, batch = make_batch()
    loss = single(kind)
    total, _ = loss(pred, batch)
    grads = torch.autograd.grad(total, list(pred.values()), allow_unused=True)

    pred2 = {k: v.detach().clone().requires_grad_() for k, v in pred.items()}
    batch2 = dict(batch)
    batch2["agl"] = torch.where(batch["valid"], batch["agl"], torch.tensor(junk))
    total2, _ = loss(pred2, batch2)
    grads2 = torch.autograd.grad(total2, list(pred2.values()), allow_unused=True)
    assert torch.isfinite(total2)
    assert torch.equal(total, total2)
    for g1, g2 in zip(grads, grads2, strict=True):
        assert (g1 is None) == (g2 is None)
        if g1 is not None:
            assert torch.isfinite(g2).all()
            assert torch.equal(g1, g2)


@pytest.mark.parametrize("kind", ALL_TERMS)
def test_no_valid_pixel_gives_finite_loss_and_gradients(kind: str) -> None:
    pred, batch = make_batch()
    batch["valid"] = torch.zeros_like(batch["valid"])
    batch["agl"] = torch.full_like(batch["agl"], float("nan"))
    total, _ = single(kind)(pred, batch)
    assert torch.isfinite(total)
    total.backward()
    for t in pred.values():
        assert t.grad is None or torch.isfinite(t.grad).all()
    if not kind.startswith("scale"):
        assert total.item() == 0.0


@pytest.mark.parametrize("kind", ["agl_huber", "mag_mse", "agl_trimmed_mse"])
def test_tile_without_valid_pixel_contributes_nothing(kind: str) -> None:
    pred, batch = make_batch()
    keep = [0, 1, 2]
    sub_pred = {k: v.detach()[keep] for k, v in pred.items()}
    sub_batch = {
        k: (v[keep] if torch.is_tensor(v) else [v[i] for i in keep]) for k, v in batch.items()
    }
    assert value(kind, pred, batch) == pytest.approx(value(kind, sub_pred, sub_batch), rel=1e-6)


def test_lean_bce_matches_numpy() -> None:
    pred, batch = make_batch()
    got = value("lean_bce", pred, batch, low=0.3, high=3.0)
    agl = np.where(np_(batch["valid"]), np_(batch["agl"]), 0.0)[:, 0]
    valid = np_(batch["valid"]).astype(bool)[:, 0]
    logits = np_(pred["lean_logits"])[:, 0]
    losses = []
    for b in range(agl.shape[0]):
        padded = np.pad(agl[b], 1, mode="edge")
        gx = (padded[1:-1, 2:] - padded[1:-1, :-2]) / 2
        gy = (padded[2:, 1:-1] - padded[:-2, 1:-1]) / 2
        slope = np.hypot(gx, gy)
        s = float(batch["scale"][b])
        label = (slope >= 0.3 / s) & (slope <= 3.0 / s)
        vp = np.pad(valid[b], 1, constant_values=True)
        box = np.ones_like(valid[b])
        for dy in range(3):
            for dx in range(3):
                box &= vp[dy : dy + valid.shape[1], dx : dx + valid.shape[2]]
        x = logits[b]
        bce = np.maximum(x, 0) - x * label + np.log1p(np.exp(-np.abs(x)))
        losses.append(bce[box])
    assert got == pytest.approx(float(np.concatenate(losses).mean()), rel=1e-5)


def test_scale_dense_is_the_l1_of_log_scale_on_the_lean_pixels_only() -> None:
    pred, batch = make_batch()
    got = value("scale_dense", pred, batch)
    label, counted = LeanMaskLoss().target(batch["agl"], batch["valid"], batch["scale"].reshape(-1))
    use = (label & counted).numpy()[:, 0]
    assert use.sum() > 0
    est = np_(pred["log_scale_map"])[:, 0]
    truth = np.log(np_(batch["scale"]))[:, None, None]
    ref = float(np.abs(est - truth)[use].mean())
    assert got == pytest.approx(ref, rel=1e-5)
    # Estimates off the lean pixels are free: changing them changes nothing.
    moved = {**pred, "log_scale_map": torch.where(
        torch.from_numpy(use)[:, None], pred["log_scale_map"], torch.full((), 50.0)
    )}  # fmt: skip
    assert value("scale_dense", moved, batch) == pytest.approx(ref, rel=1e-5)
    # A flat batch shows no lean: the term is 0, not NaN.
    flat = {**batch, "agl": torch.zeros_like(batch["agl"])}
    assert value("scale_dense", pred, flat) == 0.0


def test_scale_dense_without_its_map_names_what_is_missing() -> None:
    pred, batch = make_batch()
    del pred["log_scale_map"]
    with pytest.raises(UsageError, match="pool: attention"):
        single("scale_dense")(pred, batch)


def test_lean_bce_min_cos_keeps_only_pixels_falling_along_the_flow() -> None:
    """A pyramid falls in every direction; with ``min_cos`` only its flank that falls
    along the flow (angle 90°: towards +column) stays labelled."""
    n = 21
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float32)
    agl = torch.from_numpy(10.0 - 0.8 * np.maximum(np.abs(cols - 10), np.abs(rows - 10)))
    agl = agl.clamp(min=0)[None, None]
    valid = torch.ones_like(agl, dtype=torch.bool)
    scale, angle = torch.tensor([1.0]), torch.tensor([math.pi / 2])
    loss = LeanMaskLoss()
    every, _ = loss.target(agl, valid, scale)
    along, _ = LeanMaskLoss(min_cos=0.5).target(agl, valid, scale, angle)
    assert along.sum() > 0
    assert bool((along <= every).all())
    _rows, xs = torch.nonzero(along[0, 0], as_tuple=True)
    assert bool((xs > 10).all())  # only the flank right of the top
    assert bool((every[0, 0, :, :10]).any())


def test_lean_bce_without_a_lean_head_names_what_is_missing() -> None:
    pred, batch = make_batch()
    del pred["lean_logits"]
    with pytest.raises(UsageError, match="lean_orientation"):
        single("lean_bce")(pred, batch)


def test_fp32_under_bf16_autocast() -> None:
    pred, batch = make_batch()
    half = {k: v.detach().to(torch.bfloat16) for k, v in pred.items()}
    loss = build_loss(None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, terms = loss(half, batch)
    assert total.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in terms.values())
    ref_pred = {k: v.to(torch.float32) for k, v in half.items()}
    ref_total, _ = loss(ref_pred, batch)
    assert total.item() == pytest.approx(ref_total.item(), rel=1e-6)


def test_composite_is_weighted_sum_and_reports_terms() -> None:
    pred, batch = make_batch()
    config = {
        "agl_huber": {"weight": 2.0, "delta": 10.0},
        "agl_sharp": {"kind": "agl_huber", "weight": 0.5, "delta": 1.0},
        "scale_mse": 3.0,
        "direction_cos_mse": {"weight": 0.25},
    }
    total, terms = build_loss(config)(pred, batch)
    assert set(terms) == set(config)
    expected = (
        2.0 * value("agl_huber", pred, batch)
        + 0.5 * value("agl_huber", pred, batch, delta=1.0)
        + 3.0 * value("scale_mse", pred, batch)
        + 0.25 * value("direction_cos_mse", pred, batch)
    )
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert terms["agl_sharp"].item() != pytest.approx(terms["agl_huber"].item())
    total.backward()
    assert pred["agl"].grad is not None


@pytest.mark.parametrize(
    "config",
    [
        {"agl_hubre": 1.0},
        {"agl_huber": {"deltaa": 3}},
        {"agl_l1": {"trim": 1.5}},
        {"agl_huber": {"tall_m": 0}},
        {"agl_huber": {"tall_m": float("nan")}},
        {"agl_trimmed_huber": {"tall_m": 10.0}},
        {"agl_mse": {"weight": float("nan")}},
        {},
    ],
)
def test_bad_config_is_a_usage_error(config: dict) -> None:
    with pytest.raises(UsageError):
        build_loss(config)


def test_build_loss_without_terms_is_the_configs_default_recipe() -> None:
    from geopose.config import LossConfig

    plain, configured = build_loss(), build_loss(LossConfig().terms)
    assert plain.weights == configured.weights
    assert list(plain.terms) == ["agl_huber", "mag_huber", "direction_cos_mse", "scale_mse"]
    for name in plain.terms:
        a, b = plain.terms[name], configured.terms[name]
        assert type(a) is type(b)
        assert vars(a).keys() == vars(b).keys()
        for key, value in vars(a).items():
            if not key.startswith("_"):
                assert value == vars(b)[key], (name, key)
    direction = plain.terms["direction_cos_mse"]
    assert (direction.cos_weight, direction.mse_weight) == (1.0, 0.1)


def test_a_term_of_weight_zero_is_switched_off_but_still_checked() -> None:
    pred, batch = make_batch()
    pred = {k: v for k, v in pred.items() if k != "lean_logits"}  # lean_bce would fail
    config = {"agl_huber": 1.0, "lean_bce": {"weight": 0}, "scale_mse": {"weight": 0.0}}
    total, terms = build_loss(config)(pred, batch)
    assert set(terms) == {"agl_huber"}
    assert total.item() == pytest.approx(value("agl_huber", pred, batch), rel=1e-6)
    with pytest.raises(UsageError, match="lean_bce"):
        build_loss({"agl_huber": 1.0, "lean_bce": 1.0})(pred, batch)
    # Switched off, yet a bad parameter or kind is still an error.
    with pytest.raises(UsageError, match="agl_huber"):
        build_loss({"scale_mse": 1.0, "agl_huber": {"weight": 0, "delta": -1.0}})
    with pytest.raises(UsageError, match="unknown kind"):
        build_loss({"scale_mse": 1.0, "nonsense": {"weight": 0}})
    with pytest.raises(UsageError, match="at least one term"):
        build_loss({"agl_huber": 0})


def test_a_recipe_switches_default_terms_off_by_weight_zero() -> None:
    """Recipe loss terms merge into the default Huber terms (load_config deep-merges);
    weight 0 is how a recipe replaces them (the ablation table's MSE row)."""
    from geopose.config import load_config

    merged = load_config(None, ["loss.terms.agl_mse.weight=1"]).loss.terms
    assert {"agl_huber", "mag_huber", "agl_mse"} <= set(merged)
    replaced = load_config(
        None, ["loss.terms.agl_mse.weight=1", "loss.terms.agl_huber.weight=0"]
    ).loss.terms
    pred, batch = make_batch()
    _, terms = build_loss(replaced)(pred, batch)
    assert "agl_mse" in terms
    assert "agl_huber" not in terms
