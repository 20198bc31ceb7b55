"""The accuracy benchmark: a fixed synthetic dataset, a large held-out set, the official
score with 95 % bootstrap intervals, the ceilings oracles reach, and training runs.

    python benchmarks/accuracy.py data                       # make the fixed datasets
    python benchmarks/accuracy.py ceilings                   # oracle scores (no training)
    python benchmarks/accuracy.py run NAME [--steps N] [--train-tiles N] [--seed S]
                                  [--recipe demo] [--threads 1] [-- key=value ...]
    python benchmarks/accuracy.py eval CHECKPOINT [--name NAME] [--tta d4]
                                  [--on train-128]            # score training tiles
    python benchmarks/accuracy.py table                      # all results as Markdown
    python benchmarks/accuracy.py show CHECKPOINT... --out PNG [--city ATL] [--tiles 3]
    python benchmarks/accuracy.py curve [--out docs/images/accuracy_scaling.png]

Data (``benchmarks/data/``, made once, byte-identical for the seeds below):
``heldout``: 64 tiles per city of 256 px (seed 2026, districts of its own);
``train-N``: N training tiles per city of 256 px (seed 11). The held-out score is
pooled per city as the official metric does, with intervals from resampling tiles
within each city (:mod:`geopose.intervals`). Every command prints JSON on stdout and
writes it under ``benchmarks/results/accuracy/``; ``table`` prints them as Markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results" / "accuracy"
RUNS = HERE / "runs"
HELDOUT_SEED, TRAIN_SEED = 2026, 11
HELDOUT_PER_CITY, TILE = 64, 256
CITIES = ("ARG", "ATL", "JAX", "OMA")


def heldout_root() -> Path:
    return DATA / "heldout"


def train_root(per_city: int) -> Path:
    return DATA / f"train-{per_city}"


def _make(root: Path, train: int, test: int, seed: int) -> None:
    from geopose.data.synth import write_dataset

    if (root / "metadata.csv").is_file():
        return
    workers = max(1, min(2, os.cpu_count() or 1))
    write_dataset(root, CITIES, train, test, TILE, seed, workers, progress=True)


def ensure_data(train_tiles: int | None = None) -> None:
    _make(heldout_root(), 0, HELDOUT_PER_CITY, HELDOUT_SEED)
    if train_tiles:
        _make(train_root(train_tiles), train_tiles, 0, TRAIN_SEED)


# --- held-out truth and scoring ----------------------------------------------------------


def heldout() -> Iterator[dict[str, Any]]:
    """Held-out samples with their truth: image, gsd, city, id, agl (m), scale, angle."""
    from geopose.io import load_sample, open_layout
    from geopose.io.layout import TEST_TRUTH

    for entry in open_layout(heldout_root()).entries(TEST_TRUTH):
        yield load_sample(entry)


def training_tiles(per_city: int, first: int = HELDOUT_PER_CITY) -> Iterator[dict[str, Any]]:
    """The first ``first`` tiles per city of ``train-<per_city>`` with their truth, in the
    held-out set's form: scored like it, they give a model's training-set score, and so
    its generalisation gap."""
    from geopose.io import load_sample, open_layout
    from geopose.io.layout import TRAIN

    root = train_root(per_city)
    if not (root / "metadata.csv").is_file():
        raise SystemExit(
            f"{root} does not exist; make it with: accuracy.py data --train-tiles {per_city}"
        )
    taken = dict.fromkeys(CITIES, 0)
    for entry in open_layout(root).entries(TRAIN):
        if taken.get(entry.city, first) < first:  # the layout knows the city: read only these
            taken[entry.city] += 1
            yield load_sample(entry)


def _report(tiles: list[Any]) -> dict[str, Any]:
    from geopose.intervals import score_with_intervals

    return score_with_intervals(tiles, resamples=1000).as_dict()


def _predictions(
    checkpoints: list[Path],
    tta: str,
    threads: int,
    device: str,
    samples: Iterable[dict[str, Any]] | None = None,
) -> Iterator[tuple[dict[str, Any], Any]]:
    """``(sample, prediction)`` for each of ``samples`` (default: the held-out set) by
    ``checkpoints`` (one model, or several averaged as an ensemble) on ``device``, fp32,
    with ``tta``."""
    import torch

    from geopose.inference.options import PredictOptions, make_predictor

    torch.set_num_threads(threads)
    predictor = make_predictor(
        list(checkpoints),
        PredictOptions(tta=tta, precision="fp32", device=device, batch_size=4, threads=threads),
    )
    with torch.inference_mode():
        for s in heldout() if samples is None else samples:
            yield s, predictor.predict_tiles(s["image"][None], [s["gsd"]])[0]


def predict_tile_stats(
    checkpoints: list[Path],
    tta: str = "d4",
    threads: int = 1,
    device: str = "cpu",
    samples: Iterable[dict[str, Any]] | None = None,
) -> list[Any]:
    """Per-tile statistics (:class:`geopose.intervals.TileStats`) of ``checkpoints`` (one
    model, or several averaged as an ensemble) on ``samples`` (default: the held-out
    set), predicted on ``device`` in fp32 with ``tta``."""
    from geopose.intervals import tile_stats

    return [
        tile_stats(s["city"], s["agl"], s["scale"], s["angle"], res.agl, res.scale, res.angle)
        for s, res in _predictions(checkpoints, tta, threads, device, samples)
    ]


def evaluate_checkpoint(
    checkpoint: Path,
    tta: str = "d4",
    threads: int = 1,
    device: str = "cpu",
    samples: Iterable[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Predict ``samples`` (default: the held-out set) with ``checkpoint`` on ``device``
    (fp32) and score them."""
    start = time.perf_counter()
    out = _report(predict_tile_stats([checkpoint], tta, threads, device, samples))
    out["predict_s"] = time.perf_counter() - start
    return out


def compare(a: list[Path], b: list[Path], tta: str = "d4", threads: int = 1) -> dict[str, Any]:
    """Score, AGL R² and VFLOW R² of checkpoints ``a`` (e.g. one recipe's seeds) minus
    those of ``b``, each side averaged over its checkpoints, with the 95 % interval of
    resampling the held-out tiles within each city, paired (both sides draw the same
    tiles, so what the tiles share cancels)."""
    from geopose.intervals import difference, mean_over_models

    side_a = [predict_tile_stats([c], tta, threads) for c in a]
    side_b = [predict_tile_stats([c], tta, threads) for c in b]

    def figures(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v.as_dict() for k, v in d.items()}

    return {
        "a": [str(c) for c in a], "b": [str(c) for c in b], "tta": tta,
        "mean_a": figures(mean_over_models(side_a, resamples=1000)),
        "mean_b": figures(mean_over_models(side_b, resamples=1000)),
        "difference": figures(difference(side_a, side_b, resamples=1000)),
    }  # fmt: skip


def scale_report(rows: Iterable[tuple[str, float, float, float]]) -> dict[str, Any]:
    """Per city, how a model's scales (px/m) relate to the truth, from ``(city, gsd (m/px),
    true scale, predicted scale)`` per tile: the spread of each, the correlation of the
    prediction with the truth and — what a head that ignores the image and outputs one
    ``cot`` per city divided by the GSD would reach — of ``1 / GSD`` with the truth; the
    mean |error| and that of the city's mean true scale."""
    by_city: dict[str, list[tuple[float, float, float]]] = {}
    for city, gsd, truth, pred in rows:
        by_city.setdefault(city, []).append((gsd, truth, pred))
    out: dict[str, Any] = {}
    for city, values in sorted(by_city.items()):
        gsd, truth, pred = (np.asarray(v, dtype=np.float64) for v in zip(*values, strict=True))

        def corr(a: np.ndarray, b: np.ndarray) -> float | None:
            ok = a.std() > 0 and b.std() > 0
            return float(np.corrcoef(a, b)[0, 1]) if ok else None

        out[city] = {
            "tiles": len(values),
            "true_mean": float(truth.mean()), "true_sd": float(truth.std()),
            "pred_mean": float(pred.mean()), "pred_sd": float(pred.std()),
            "corr_pred_true": corr(pred, truth), "corr_inv_gsd_true": corr(1 / gsd, truth),
            "abs_error": float(np.abs(pred - truth).mean()),
            "abs_error_city_mean": float(np.abs(truth - truth.mean()).mean()),
        }  # fmt: skip
    return out


def facade_slope_scale(agl: np.ndarray, min_pixels: int = 30) -> float:
    """The scale (px/m) an AGL map (m) shows on its facades: a facade falls by ``1 /
    scale`` m per pixel, so over raised pixels (> 1 m) whose slope lies in 0.3–6 m/px the
    most common ``ln |∇AGL|`` (60 bins) gives it; the window admits scales of 0.17–3.3
    px/m (the synthetic cities span 0.25–2.1). NaN with fewer than ``min_pixels``."""
    a = np.nan_to_num(np.asarray(agl, dtype=np.float64))
    gy, gx = np.gradient(a)
    slope = np.hypot(gx, gy)
    use = (slope > 0.3) & (slope < 6.0) & (a > 1.0)
    if use.sum() < min_pixels:
        return float("nan")
    counts, edges = np.histogram(np.log(slope[use]), bins=60)
    i = int(counts.argmax())
    return float(np.exp(-(edges[i] + edges[i + 1]) / 2))


def slope_report(rows: Iterable[tuple[str, float, float, float]]) -> dict[str, Any]:
    """Per city, how well :func:`facade_slope_scale` reads the scale from the true AGL
    and from a model's AGL, from ``(city, true scale, scale from the true AGL, scale from
    the predicted AGL)`` per tile (NaN where a map shows too few facades)."""
    from scipy.stats import spearmanr

    by_city: dict[str, list[tuple[float, float, float]]] = {}
    for city, truth, from_true, from_pred in rows:
        by_city.setdefault(city, []).append((truth, from_true, from_pred))
    out: dict[str, Any] = {}
    for city, values in sorted(by_city.items()):
        truth, from_true, from_pred = (np.asarray(v, np.float64) for v in zip(*values, strict=True))
        city_out: dict[str, Any] = {"tiles": len(values)}
        for name, est in (("true_agl", from_true), ("pred_agl", from_pred)):
            ok = np.isfinite(est)
            rel = est[ok] / truth[ok]
            enough = ok.sum() > 2
            city_out[name] = {
                "tiles": int(ok.sum()),
                "median_ratio": float(np.median(rel)) if enough else None,
                "median_abs_rel_error": float(np.median(np.abs(rel - 1))) if enough else None,
                "within_20pc": float(np.mean(np.abs(rel - 1) < 0.2)) if enough else None,
                "spearman": float(spearmanr(truth[ok], est[ok]).statistic) if enough else None,
            }
        out[city] = city_out
    return out


def predict_scales(
    checkpoint: Path, tta: str = "none", threads: int = 1, device: str = "cpu"
) -> dict[str, Any]:
    """On the held-out set: :func:`scale_report` of ``checkpoint``'s scales
    (``cities``), and :func:`slope_report` of the scale its AGL and the true AGL show on
    their facades (``facade_slope``)."""
    scales, slopes = [], []
    for s, res in _predictions([checkpoint], tta, threads, device):
        scales.append((s["city"], float(s["gsd"]), float(s["scale"]), float(res.scale)))
        slopes.append((s["city"], float(s["scale"]), facade_slope_scale(s["agl"]),
                       facade_slope_scale(res.agl)))  # fmt: skip
    return {"cities": scale_report(scales), "facade_slope": slope_report(slopes)}


# --- ceilings ----------------------------------------------------------------------------


def _circular_mean(angles: list[float]) -> float:
    return math.atan2(np.mean(np.sin(angles)), np.mean(np.cos(angles))) % (2 * math.pi)


def _blur(agl: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    filled = np.nan_to_num(agl, nan=0.0)
    return gaussian_filter(filled, sigma).astype(np.float32)


def _raised_tile_mean(agl: np.ndarray) -> np.ndarray:
    up = agl > 2.0
    level = float(agl[up].mean()) if up.any() else 0.0
    return np.where(up, level, 0.0).astype(np.float32)


def ceilings() -> dict[str, Any]:
    """Scores of oracles that know part of the truth, on the held-out set."""
    from geopose.intervals import tile_stats

    samples = list(heldout())

    def by_city(fn: Callable[[list[float]], float], key: str) -> dict[str, float]:
        return {c: fn([s[key] for s in samples if s["city"] == c]) for c in CITIES}

    scale_m = by_city(lambda v: float(np.mean(v)), "scale")
    # The mean height of raised pixels (> 2 m) per city: what a model that segments
    # buildings and trees perfectly but measures no height can best predict there.
    raised = {
        c: float(np.mean(np.concatenate([s["agl"][s["agl"] > 2.0] for s in samples
                                         if s["city"] == c])))
        for c in CITIES
    }  # fmt: skip
    angle_m = by_city(_circular_mean, "angle")
    twenty = math.radians(20)
    oracles: dict[str, Callable[[dict[str, Any]], tuple[np.ndarray, float, float]]] = {
        "true AGL, true flow (perfect)": lambda s: (s["agl"], s["scale"], s["angle"]),
        "true magnitude, scale = city mean (AGL = mag / mean scale)": lambda s: (
            s["agl"] * s["scale"] / scale_m[s["city"]], scale_m[s["city"]], s["angle"]
        ),
        "true AGL and angle, scale = city mean": lambda s: (
            s["agl"], scale_m[s["city"]], s["angle"]
        ),
        "true AGL and scale, angle = city mean": lambda s: (
            s["agl"], s["scale"], angle_m[s["city"]]
        ),
        "true AGL, flow = city mean (scale and angle)": lambda s: (
            s["agl"], scale_m[s["city"]], angle_m[s["city"]]
        ),
        "true AGL, zero flow": lambda s: (s["agl"], 0.0, s["angle"]),
        "true AGL, angle off by 20°": lambda s: (s["agl"], s["scale"], s["angle"] + twenty),
        "true AGL, scale off by 20 %": lambda s: (s["agl"], 1.2 * s["scale"], s["angle"]),
        "AGL capped at 20 m, true flow": lambda s: (
            np.minimum(s["agl"], 20.0), s["scale"], s["angle"]
        ),
        "AGL blurred σ 1 px, true flow": lambda s: (_blur(s["agl"], 1), s["scale"], s["angle"]),
        "AGL blurred σ 2 px, true flow": lambda s: (_blur(s["agl"], 2), s["scale"], s["angle"]),
        "AGL blurred σ 4 px, true flow": lambda s: (_blur(s["agl"], 4), s["scale"], s["angle"]),
        "AGL blurred σ 8 px, true flow": lambda s: (_blur(s["agl"], 8), s["scale"], s["angle"]),
        "AGL × 0.8 (all heights 20 % low), true flow": lambda s: (
            0.8 * s["agl"], s["scale"], s["angle"]
        ),
        "raised pixels (> 2 m) known, height = city's mean raised height, true flow": lambda s: (
            np.where(s["agl"] > 2.0, raised[s["city"]], 0.0).astype(np.float32),
            s["scale"], s["angle"],
        ),
        "raised pixels (> 2 m) known, height = tile's mean raised height, true flow": lambda s: (
            _raised_tile_mean(s["agl"]), s["scale"], s["angle"]
        ),
        "AGL = tile's mean, true flow": lambda s: (
            np.full_like(s["agl"], np.nanmean(s["agl"])), s["scale"], s["angle"]
        ),
    }  # fmt: skip
    rows = {}
    for name, oracle in oracles.items():
        tiles = []
        for s in samples:
            agl, scale, angle = oracle(s)
            tiles.append(tile_stats(s["city"], s["agl"], s["scale"], s["angle"], agl, scale, angle))
        rows[name] = _report(tiles)
    return {"kind": "ceilings", "tiles": len(samples), "rows": rows}


# --- training runs -----------------------------------------------------------------------


def train(args: argparse.Namespace) -> float:
    """Train ``args.name`` with ``geopose train`` (a subprocess, as a user runs it) unless
    ``args.reuse`` finds its last checkpoint; the training time (s, NaN when reused)."""
    ensure_data(args.train_tiles)
    out = RUNS / args.name
    cmd = [
        sys.executable, "-m", "geopose", "train", "--config", args.recipe,
        "--data", str(train_root(args.train_tiles)), "--out", str(out), "--no-progress",
        f"train.max_steps={args.steps}", f"train.seed={args.seed}",
        f"train.threads={args.threads}", "train.time_limit_s=null",
        *([f"train.device={args.device}"] if args.device != "cpu" else []), *args.overrides,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    last = last_checkpoint(args.name)
    if last.is_file() and args.reuse:
        seconds = float("nan")
    else:
        if out.exists():
            raise SystemExit(f"{out} exists; remove it or pass --reuse")
        RUNS.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with open(RUNS / f"{args.name}.log", "w") as log:
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        seconds = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"training failed with exit code {code}; see {RUNS / args.name}.log")
    return seconds


def last_checkpoint(name: str) -> Path:
    """The last checkpoint of run ``name``."""
    return RUNS / name / "checkpoints" / "last.safetensors"


def run_command(args: argparse.Namespace) -> str:
    """The command line that reproduces run ``args``."""
    return " ".join(
        [
            "python benchmarks/accuracy.py run",
            args.name,
            f"--steps {args.steps} --train-tiles {args.train_tiles}",
            f"--seed {args.seed} --recipe {args.recipe}",
            "--",
            *args.overrides,
        ]
    )


def run_record(args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    """The fields of a run's result that describe how it was trained."""
    return {
        "kind": "run",
        "name": args.name,
        "command": run_command(args),
        "recipe": args.recipe,
        "steps": args.steps,
        "train_tiles_per_city": args.train_tiles,
        "seed": args.seed,
        "overrides": args.overrides,
        "threads": args.threads,
        "device": args.device,
        "train_s": seconds,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train with ``geopose train`` (a subprocess, as a user runs it), then evaluate."""
    seconds = train(args)
    report = evaluate_checkpoint(last_checkpoint(args.name), args.tta, args.threads, args.device)
    return {**run_record(args, seconds), **report}


# --- pictures ----------------------------------------------------------------------------


def show(checkpoints: list[Path], out: Path, city: str = "ATL", n_tiles: int = 3) -> None:
    """Draw the ``n_tiles`` held-out tiles of ``city`` with the largest share of pixels
    above 20 m: the image, the true AGL, and each checkpoint's AGL (d4 TTA, fp32) on the
    true AGL's colour scale, with the mean over those tall pixels in each title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from geopose.inference.options import PredictOptions, make_predictor

    torch.set_num_threads(1)
    options = PredictOptions(tta="d4", precision="fp32", device="cpu", batch_size=1, threads=1)
    predictors = [make_predictor([c], options) for c in checkpoints]
    tiles = [s for s in heldout() if s["city"] == city]
    if not tiles:
        raise SystemExit(f"no held-out tile of city {city!r}; cities: {', '.join(CITIES)}")
    tiles = sorted(tiles, key=lambda s: -float(np.mean(np.nan_to_num(s["agl"]) > 20.0)))
    cols = 2 + len(checkpoints)
    fig, axes = plt.subplots(n_tiles, cols, figsize=(3.2 * cols, 3.3 * n_tiles), squeeze=False)
    for row, sample in zip(axes, tiles[:n_tiles], strict=False):
        truth = sample["agl"]
        tall = np.nan_to_num(truth) > 20.0
        top = float(np.nanmax(truth))
        row[0].imshow(sample["image"])
        row[0].set_title(f"{sample['id']}\nscale {sample['scale']:.2f} px/m", fontsize=9)
        row[1].imshow(truth, vmin=0, vmax=top)
        row[1].set_title(f"true AGL (max {top:.0f} m)\n> 20 m: mean {truth[tall].mean():.0f} m",
                         fontsize=9)  # fmt: skip
        for ax, ckpt, predictor in zip(row[2:], checkpoints, predictors, strict=True):
            with torch.inference_mode():
                res = predictor.predict_tiles(sample["image"][None], [sample["gsd"]])[0]
            ax.imshow(res.agl, vmin=0, vmax=top)
            run = ckpt.parent.parent.name
            title = f"{run}: max {res.agl.max():.0f} m\non true > 20 m: mean "
            ax.set_title(f"{title}{res.agl[tall].mean():.0f} m", fontsize=9)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72)
    print(json.dumps({"figure": str(out), "tiles": [s["id"] for s in tiles[:n_tiles]]}))


def curve_points(results: Iterable[dict[str, Any]]) -> dict[tuple[str, int], list[Any]]:
    """``(preset, seed)`` → ``[(steps, score, low, high), …]`` sorted by steps, from the
    ``run`` results that trained a preset with the demo recipe, the default training set
    and no other change (so their only difference is the compute)."""
    points: dict[tuple[str, int], list[Any]] = {}
    for r in results:
        if (
            r.get("kind") != "run"
            or r.get("recipe") != "demo"
            or (r.get("device") or "cpu") != "cpu"
        ):
            continue
        changes = [o for o in r["overrides"] if o != "train.precision=fp32"]
        if r["train_tiles_per_city"] != 128 or len(changes) != 1:
            continue
        key, _, preset = changes[0].partition("=")
        if key != "model.preset":
            continue
        score = r["score"]
        points.setdefault((preset, r["seed"]), []).append(
            (r["steps"], score["value"], score["low"], score["high"])
        )
    return {k: sorted(v) for k, v in sorted(points.items())}


def curve(out: Path) -> None:
    """Plot score (95 % interval) against optimizer steps, one line per preset and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    points = {k: v for k, v in curve_points(results).items() if len(v) > 1}
    if not points:
        raise SystemExit(f"no preset has runs at two step counts in {RESULTS}")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (preset, seed), pts in points.items():
        steps, score, low, high = (np.array(c, dtype=float) for c in zip(*pts, strict=True))
        ax.errorbar(steps, score, yerr=[score - low, high - score], marker="o", capsize=3,
                    label=f"{preset}, seed {seed}")  # fmt: skip
    ax.set_xscale("log", base=2)
    ticks = sorted({pt[0] for pts in points.values() for pt in pts})
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("optimizer steps (8 crops of 128 px each)")
    ax.set_ylabel("held-out score (95 % interval)")
    ax.axhline(0.80, color="grey", linestyle=":", label="the demo's goal (0.80)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(
        json.dumps(
            {"figure": str(out), "curves": {f"{k[0]} s{k[1]}": v for k, v in points.items()}}
        )
    )


# --- output ------------------------------------------------------------------------------


def _write(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


def _iv(d: dict[str, float] | None) -> str:
    if not d:
        return "–"
    return f"{d['value']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"


def table() -> str:
    lines = [
        "| run | steps | tiles/city | seed | score [95 % CI] | AGL R² | VFLOW R² | "
        "angle err ° (A/T/J/O) | |scale err| px/m (A/T/J/O) | "
        "rel. bias 20–50 m (A/T/J/O) | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        if r.get("kind") != "run":
            continue
        cities = r["cities"]
        ang = "/".join(f"{cities[c]['angle_error_deg']['value']:.0f}" for c in CITIES)
        sc = "/".join(f"{cities[c]['abs_scale_error']['value']:.2f}" for c in CITIES)
        bias = []
        for c in CITIES:
            b = next(x for x in cities[c]["agl_bias_by_height"] if x["bin_m"][0] == 20.0)
            rb = b["relative_bias"]
            bias.append(f"{rb['value']:+.2f}" if rb else "–")
        lines.append(
            f"| {r['name']} | {r['steps']} | {r['train_tiles_per_city']} | {r['seed']} | "
            f"{_iv(r['score'])} | {_iv(r['agl_r2'])} | {_iv(r['vflow_r2'])} | {ang} | {sc} | "
            f"{'/'.join(bias)} | {r['train_s']:.0f} |"
        )
    ceil = RESULTS / "ceilings.json"
    if ceil.is_file():
        lines += ["", "| oracle | score [95 % CI] | AGL R² | VFLOW R² |", "|---|---|---|---|"]
        for name, r in json.loads(ceil.read_text())["rows"].items():
            lines.append(
                f"| {name} | {_iv(r['score'])} | {_iv(r['agl_r2'])} | {_iv(r['vflow_r2'])} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("data", help="make the fixed benchmark datasets")
    p.add_argument("--train-tiles", type=int, default=128, help="training tiles per city")
    sub.add_parser("ceilings", help="oracle scores on the held-out set")
    p = sub.add_parser("run", help="train (geopose train) and evaluate")
    p.add_argument("name")
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps")
    p.add_argument("--train-tiles", type=int, default=128, help="training tiles per city")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipe", default="demo", help="recipe name or YAML file")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--tta", default="d4")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (training and scoring)")
    p.add_argument("--reuse", action="store_true", help="evaluate an existing run again")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (after --)")
    p = sub.add_parser("eval", help="evaluate a checkpoint on the held-out set")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--name", default=None)
    p.add_argument("--tta", default="d4")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--on", default="heldout", metavar="SET",
        help="heldout (default) or train-N: the first 64 tiles per city of train-N",
    )  # fmt: skip
    p = sub.add_parser("compare", help="paired difference of two sets of checkpoints")
    p.add_argument("--a", type=Path, nargs="+", required=True, help="checkpoints of side a")
    p.add_argument("--b", type=Path, nargs="+", required=True, help="checkpoints of side b")
    p.add_argument("--name", required=True, help="result name (JSON in the results folder)")
    p.add_argument("--tta", default="d4")
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("scales", help="a checkpoint's scales against the truth, per city")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--name", default=None)
    p.add_argument("--tta", default="none")
    sub.add_parser("table", help="all results as a Markdown table")
    p = sub.add_parser("show", help="draw held-out tiles with tall buildings and predictions")
    p.add_argument("checkpoints", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.add_argument("--city", default="ATL")
    p.add_argument("--tiles", type=int, default=3)
    p = sub.add_parser("curve", help="plot score against steps for each preset and seed")
    p.add_argument(
        "--out", type=Path, default=HERE.parent / "docs" / "images" / "accuracy_scaling.png"
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:  # key=value overrides may follow a "--"
        argv.remove("--")
    args, extra = parser.parse_known_args(argv)
    if extra and (args.verb != "run" or not all("=" in x for x in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.verb == "run":
        args.overrides = [*args.overrides, *extra]
    if args.verb == "data":
        ensure_data(args.train_tiles)
    elif args.verb == "ceilings":
        ensure_data()
        _write("ceilings", ceilings())
    elif args.verb == "run":
        _write(args.name, run(args))
    elif args.verb == "eval":
        ensure_data()
        samples = None
        if args.on != "heldout":
            if not args.on.startswith("train-") or not args.on[6:].isdigit():
                parser.error(f"--on {args.on}: expected heldout or train-N")
            samples = training_tiles(int(args.on[6:]))
        result = {"kind": "eval", "checkpoint": str(args.checkpoint), "on": args.on,
                  **evaluate_checkpoint(args.checkpoint, args.tta, device=args.device,
                                        samples=samples)}  # fmt: skip
        _write(args.name or args.checkpoint.stem, result)
    elif args.verb == "compare":
        ensure_data()
        _write(args.name, {"kind": "compare", **compare(args.a, args.b, args.tta, args.threads)})
    elif args.verb == "scales":
        ensure_data()
        result = {"kind": "scales", "checkpoint": str(args.checkpoint), "tta": args.tta,
                  **predict_scales(args.checkpoint, args.tta)}  # fmt: skip
        _write(args.name or f"scales-{args.checkpoint.parent.parent.name}", result)
    elif args.verb == "show":
        ensure_data()
        show(args.checkpoints, args.out, args.city, args.tiles)
    elif args.verb == "curve":
        curve(args.out)
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
