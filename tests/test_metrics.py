"""Tests of geopose.metrics against a plain-numpy transcription of the official formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geopose.metrics import GeoposeMetric, RunningStats


# ----------------------------------------------------------------------------- reference
def reference_city(images: list[dict]) -> tuple[float, float]:
    """The official per-city (AGL R², VFLOW R²): concatenate everything, apply DESIGN §2."""
    agl_t = np.concatenate([im["agl_true"].ravel() for im in images]).astype(np.float64)
    agl_p = np.concatenate([im["agl_pred"].ravel() for im in images]).astype(np.float64)
    vt, vp = [], []
    for im in images:
        mt = im["agl_true"].astype(np.float64) * im["scale_true"]
        mp = im["agl_pred"].astype(np.float64) * im["scale_pred"]
        vt.append(np.stack([mt * np.sin(im["angle_true"]), mt * np.cos(im["angle_true"])], -1))
        vp.append(np.stack([mp * np.sin(im["angle_pred"]), mp * np.cos(im["angle_pred"])], -1))
    v_t = np.concatenate([v.ravel() for v in vt])
    v_p = np.concatenate([v.ravel() for v in vp])

    def r2(true: np.ndarray, pred: np.ndarray) -> float:
        n = np.sum(np.isfinite(true))
        m = np.nansum(true) / (n + 0.0001)
        sse = np.nansum(np.square(pred - true))
        sst = np.nansum(np.square(true - m))
        return float(1.0 - sse / (sst + 0.0001))

    return r2(agl_t, agl_p), r2(v_t, v_p)


def random_image(rng: np.random.Generator, city: str, size: int = 24) -> dict:
    true = rng.gamma(1.5, 4.0, (size, size)).astype(np.float32)
    true[rng.random((size, size)) < 0.15] = np.nan
    pred = (np.nan_to_num(true, nan=3.0) + rng.normal(0, 2.0, (size, size))).astype(np.float32)
    pred[rng.random((size, size)) < 0.05] = np.nan
    return {
        "city": city,
        "agl_true": true,
        "agl_pred": pred,
        "scale_true": float(rng.uniform(0.2, 2.4)),
        "angle_true": float(rng.uniform(0, 2 * math.pi)),
        "scale_pred": float(rng.uniform(0.2, 2.4)),
        "angle_pred": float(rng.uniform(0, 2 * math.pi)),
    }


def feed(metric: GeoposeMetric, im: dict) -> None:
    metric.update(
        im["city"],
        im["agl_pred"],
        im["scale_pred"],
        im["angle_pred"],
        im["agl_true"],
        im["scale_true"],
        im["angle_true"],
    )


@pytest.fixture(scope="module")
def images() -> list[dict]:
    rng = np.random.default_rng(7)
    cities = ["ARG", "ATL", "JAX", "OMA", "JAX", "ARG", "OMA", "ATL"] * 3
    return [random_image(rng, c) for c in cities]


# ----------------------------------------------------------------------------- tests
def test_matches_numpy_reference(images: list[dict]) -> None:
    metric = GeoposeMetric()
    for im in images:
        feed(metric, im)
    result = metric.compute()
    scores = []
    for city in ("ARG", "ATL", "JAX", "OMA"):
        agl_r2, vflow_r2 = reference_city([im for im in images if im["city"] == city])
        got = result.cities[city]
        assert got.agl_r2 == pytest.approx(agl_r2, abs=1e-6, rel=1e-6)
        assert got.vflow_r2 == pytest.approx(vflow_r2, abs=1e-6, rel=1e-6)
        assert got.score == pytest.approx((agl_r2 + vflow_r2) / 2, abs=1e-6)
        assert got.images == 6
        scores.append((agl_r2 + vflow_r2) / 2)
    assert result.score == pytest.approx(float(np.mean(scores)), abs=1e-6)


def test_extra_figures_match_numpy(images: list[dict]) -> None:
    city_images = [im for im in images if im["city"] == "JAX"]
    metric = GeoposeMetric()
    for im in city_images:
        feed(metric, im)
    got = metric.compute().cities["JAX"]
    ang, scl, sq, epe, nodata = [], [], [], [], 0
    for im in city_images:
        d = abs(im["angle_pred"] - im["angle_true"]) % (2 * math.pi)
        ang.append(math.degrees(min(d, 2 * math.pi - d)))
        scl.append(abs(im["scale_pred"] - im["scale_true"]))
        t, p = im["agl_true"].astype(np.float64), im["agl_pred"].astype(np.float64)
        ok = np.isfinite(t) & np.isfinite(p)
        sq.append((p[ok] - t[ok]) ** 2)
        vtx = t[ok] * im["scale_true"] * math.sin(im["angle_true"])
        vty = t[ok] * im["scale_true"] * math.cos(im["angle_true"])
        vpx = p[ok] * im["scale_pred"] * math.sin(im["angle_pred"])
        vpy = p[ok] * im["scale_pred"] * math.cos(im["angle_pred"])
        epe.append(np.hypot(vpx - vtx, vpy - vty))
        nodata += int(np.isnan(p).sum())
    assert got.angle_error_deg == pytest.approx(np.mean(ang), rel=1e-9)
    assert got.scale_error == pytest.approx(np.mean(scl), rel=1e-9)
    assert got.agl_rmse == pytest.approx(math.sqrt(np.concatenate(sq).mean()), rel=1e-9)
    assert got.epe == pytest.approx(np.concatenate(epe).mean(), rel=1e-9)
    assert got.pred_nodata == nodata > 0


def _flat(metric: GeoposeMetric) -> list[float]:
    res = metric.compute()
    out = [res.score, res.agl_r2, res.vflow_r2]
    for c in res.cities.values():
        out += [
            c.agl_r2,
            c.vflow_r2,
            c.angle_error_deg,
            c.scale_error,
            c.agl_rmse,
            c.epe,
            c.images,
            c.pred_nodata,
        ]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_any_split_merged_in_any_order_agrees(images: list[dict], seed: int) -> None:
    whole = GeoposeMetric()
    for im in images:
        feed(whole, im)
    rng = np.random.default_rng(seed)
    parts = [GeoposeMetric() for _ in range(int(rng.integers(2, 7)))]
    for im in images:
        feed(parts[int(rng.integers(len(parts)))], im)
    order = rng.permutation(len(parts))
    merged = GeoposeMetric()
    if seed % 2:  # tree-shaped merge
        a, b = GeoposeMetric(), GeoposeMetric()
        for i in order[: len(order) // 2]:
            a.merge(parts[i])
        for i in order[len(order) // 2 :]:
            b.merge(parts[i])
        merged.merge(b).merge(a)
    else:
        for i in order:
            merged.merge(parts[i])
    np.testing.assert_allclose(_flat(merged), _flat(whole), rtol=1e-9)


def test_running_stats_stable_with_large_offset() -> None:
    rng = np.random.default_rng(3)
    x = 1e6 + rng.normal(0, 1e-2, 10_000)
    acc = RunningStats()
    for chunk in np.array_split(x, 37):
        acc.merge(RunningStats.of(chunk))
    mean = x.mean()
    ref_m2 = float(np.sum((x - mean) ** 2))
    assert acc.n == x.size
    assert acc.mean == pytest.approx(mean, rel=1e-14)
    assert acc.m2 == pytest.approx(ref_m2, rel=1e-8)


@pytest.mark.parametrize("tensors", [False, True])
def test_state_round_trip(images: list[dict], tensors: bool) -> None:
    metric = GeoposeMetric()
    for im in images[:9]:
        feed(metric, im)
    metric.mark_failed("OMA", "OMA_x_AGL.tif: file not found")
    state = metric.state_dict(tensors=tensors)
    if tensors:
        assert all(isinstance(v, torch.Tensor) for v in state["cities"].values())
    again = GeoposeMetric.from_state(state)
    np.testing.assert_array_equal(_flat(again), _flat(metric))
    assert again.compute().failed == ["OMA_x_AGL.tif: file not found"]


def test_nan_prediction_scale_fails_city(images: list[dict]) -> None:
    metric = GeoposeMetric()
    for im in images[:8]:
        feed(metric, im)
    bad = dict(images[0], scale_pred=float("nan"))
    feed(metric, bad)
    res = metric.compute()
    city = bad["city"]
    assert res.cities[city].score == 0.0
    assert res.cities[city].agl_r2 == 0.0
    assert res.cities[city].vflow_r2 == 0.0
    assert len(res.cities[city].failed) == 1
    others = [c.score for n, c in res.cities.items() if n != city]
    assert all(s != 0.0 for s in others)
    assert res.score == pytest.approx(sum(others) / 4)


def test_update_batch_matches_update(images: list[dict]) -> None:
    ims = images[:4]
    ref = GeoposeMetric()
    for im in ims:
        feed(ref, im)
    true = np.stack([im["agl_true"] for im in ims])[:, None]
    valid = np.isfinite(true)
    batch = {
        "agl": torch.from_numpy(np.where(valid, true, 0.0).astype(np.float32)),
        "valid": torch.from_numpy(valid),
        "scale": torch.tensor([im["scale_true"] for im in ims], dtype=torch.float64),
        "angle": torch.tensor([im["angle_true"] for im in ims], dtype=torch.float64),
        "city": [im["city"] for im in ims],
    }
    pred = {
        "agl": torch.from_numpy(np.stack([im["agl_pred"] for im in ims])[:, None]),
        "scale": torch.tensor([im["scale_pred"] for im in ims], dtype=torch.float64),
        "angle": torch.tensor([im["angle_pred"] for im in ims], dtype=torch.float64),
    }
    got = GeoposeMetric()
    got.update_batch(pred, batch)
    np.testing.assert_allclose(_flat(got), _flat(ref), rtol=1e-12)


def test_empty_city_truth_gives_official_value() -> None:
    """All-no-data truth: the official formula gives 1 − 0/1e-4 = 1 (parity, not clipped)."""
    metric = GeoposeMetric()
    true = np.full((4, 4), np.nan, np.float32)
    metric.update("ARG", np.ones((4, 4)), 1.0, 0.0, true, 1.0, 0.0)
    assert metric.compute().cities["ARG"].agl_r2 == 1.0


def _ddp_worker(rank: int, world: int, init: str, ims: list[dict], out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    metric = GeoposeMetric()
    for im in ims[rank::world]:
        if rank == 1 and im["city"] == "ARG":  # cities differ between ranks
            continue
        feed(metric, im)
    metric.all_reduce()
    torch.save(metric.state_dict(tensors=True), f"{out}.{rank}")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_all_reduce_two_processes_equals_single(images: list[dict], tmp_path) -> None:
    init = f"file://{tmp_path / 'rendezvous'}"
    out = str(tmp_path / "state")
    torch.multiprocessing.spawn(_ddp_worker, args=(2, init, images, out), nprocs=2, join=True)
    single = GeoposeMetric()
    for i, im in enumerate(images):
        if i % 2 == 1 and im["city"] == "ARG":
            continue
        feed(single, im)
    for rank in range(2):
        state = torch.load(f"{out}.{rank}", weights_only=True)
        got = GeoposeMetric.from_state(state)
        np.testing.assert_allclose(_flat(got), _flat(single), rtol=1e-9)
