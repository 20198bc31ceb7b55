"""The ablation table (issue 15): the write-up's claims, each a change against one
reference recipe on the accuracy benchmark (``benchmarks/accuracy.py``).

    python benchmarks/ablations.py list                # rows, jobs and what is done
    python benchmarks/ablations.py next                # run the first pending job (a lane)
    python benchmarks/ablations.py table               # docs/ablations.md + results JSON
    python benchmarks/ablations.py show-config ROW     # the resolved config of a row

**Reference recipe** (the benchmark's 1x budget): ``tiny-lean-gs``, the ``demo`` recipe
(lean orientation and global scale heads, Huber δ 10 m / 5 px, direction weighted 3,
D4 augmentation, AdamW lr 1e-2, cosine), 1,500 optimizer steps of 8 crops of 128 px,
``train-128`` (128 training tiles per city), 1 torch thread, fp32, scored on the
256 held-out tiles with D4 TTA on the last checkpoint. Every row changes one thing.

Jobs: a *training* job trains one (row, seed) with ``accuracy.py run``'s own training
(:func:`accuracy.train`) and scores it; an *eval* job scores checkpoints of the
reference's runs another way (TTA mode, EMA weights, the top-3 ensemble, the validation
fold). Each job writes ``benchmarks/results/ablations/<name>.json`` with the score, the
intervals and the per-tile sums behind them (so differences can be paired over the same
held-out tiles), and is skipped when that file exists: ``next`` is resumable, and two
lanes (``benchmarks/ablation_lane.sh``, a loop over ``next``) share one queue
through claim files (``benchmarks/runs/<name>.claim``; remove a stale one by hand). A
job that fails leaves ``<name>.failed`` with the reason beside its claim, and the lane
goes on with the next job.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import accuracy  # noqa: E402  (the benchmark whose functions every job reuses)

ROOT = HERE.parent
OUT = HERE / "results" / "ablations"
DOC = ROOT / "docs" / "ablations.md"
TABLE_JSON = HERE / "results" / "ablations.json"
FIGURE = ROOT / "docs" / "images" / "ablations.png"
SEEDS = (0, 1)

#: The reference recipe (see the module docstring): accuracy.py run's arguments.
REF_RECIPE = "demo"
REF_STEPS = 1500
REF_TILES = 128
REF_THREADS = 1
REF_OVERRIDES = ("train.precision=fp32", "model.preset=tiny-lean-gs")
#: The reference's reruns keep the EMA weights (train.ema) and the top 3 validation
#: checkpoints (train.top_k) for the eval rows; neither changes the raw weights'
#: training, so their last checkpoint is the reference's (the "rerun" row checks it).
EMA_DECAY = 0.99
KEEP = ("train.ema=0.99", "train.top_k=3")


@dataclass(frozen=True)
class Row:
    """One row: a change against the reference recipe, and how it is measured.

    ``measure``: ``train`` (train each seed with ``change`` on top of the reference's
    overrides), ``eval`` (score the reference reruns' checkpoints: ``source`` is
    ``tta:<mode>``, ``ema``, ``top3`` or ``valfold``), ``none`` (not measurable here,
    ``why`` says why). ``reuse``: seed → a result of ``benchmarks/results/accuracy``
    that is this row's recipe (checked by the tests), used instead of training;
    ``reeval``: seed → a run folder whose last checkpoint is scored again for the
    per-tile sums that result lacks.
    """

    key: str
    group: str
    label: str
    change: tuple[str, ...] = ()
    recipe: str = REF_RECIPE
    measure: str = "train"
    source: str = ""
    base: str = "rerun"  # the row this one's difference is taken against ("": none)
    reuse: Mapping[int, str] = field(default_factory=dict)
    why: str = ""

    @property
    def overrides(self) -> tuple[str, ...]:
        """All ``key=value`` overrides of a training run of this row."""
        return (*REF_OVERRIDES, *self.change)


_LEAN_OFF = "loss.terms.lean_bce.weight=0"  # heads without lean logits
_HUBER_OFF = ("loss.terms.agl_huber.weight=0", "loss.terms.mag_huber.weight=0")

ROWS: tuple[Row, ...] = (
    Row(
        "ref",
        "reference",
        "reference: tiny-lean-gs, Huber, D4, stride-1 head with GSD, "
        "lean orientation, last checkpoint, D4 TTA",
        reuse={0: "gs-1500", 1: "gs-1500-s1"},
        base="",
    ),
    Row(
        "rerun",
        "reference",
        "the reference again, keeping EMA weights and the top 3 "
        "checkpoints (raw training unchanged: reproducibility)",
        change=KEEP,
        base="ref",
    ),
    # --- losses
    Row(
        "mse",
        "loss",
        "MSE for AGL and magnitude instead of Huber",
        change=(*_HUBER_OFF, "loss.terms.agl_mse.weight=1.0", "loss.terms.mag_mse.weight=1.0"),
    ),
    Row(
        "huber-mse",
        "loss",
        "MSE added to Huber (benchmarks/recipes/gs-mse.yaml as it ran: "
        "a recipe's loss terms merge into the default Huber terms)",
        recipe="benchmarks/recipes/gs-mse.yaml",
        reuse={0: "gs-mse-1500"},
    ),
    Row(
        "l1",
        "loss",
        "L1 for AGL and magnitude instead of Huber",
        change=(*_HUBER_OFF, "loss.terms.agl_l1.weight=1.0", "loss.terms.mag_l1.weight=1.0"),
    ),
    Row(
        "city-r2",
        "loss",
        "per-city R² loss for AGL (the 1st place's; weight 1) instead of Huber",
        change=("loss.terms.agl_huber.weight=0", "loss.terms.agl_city_r2.weight=1.0"),
    ),
    Row(
        "trim",
        "loss",
        "trimmed AGL Huber: each tile drops its largest 20 % of per-pixel losses",
        change=("loss.terms.agl_huber.trim=0.2",),
    ),
    # --- heads
    Row(
        "bilinear",
        "heads",
        "height predicted at stride 2 and resized bilinearly (no stride-1 stage)",
        change=("model.preset=tiny-lean-gs-bilinear",),
    ),
    Row(
        "no-gsd",
        "heads",
        "no GSD input to the AGL head",
        change=("model.preset=tiny-lean-gs-nogsd",),
    ),
    # --- orientation
    Row(
        "pooled",
        "orientation",
        "pooled orientation head (the write-up's) instead of the lean head",
        change=("model.preset=tiny-gs-pooled", _LEAN_OFF),
    ),
    Row(
        "dense-orient",
        "orientation",
        "dense orientation head with AGL-gradient attention (the write-up's untried idea)",
        change=("model.preset=tiny-gs-dense-orient", _LEAN_OFF),
    ),
    # --- augmentation
    Row(
        "aug-none",
        "augmentation",
        "no augmentation (random crops only) instead of D4",
        change=("augment.level=none",),
    ),
    Row(
        "aug-medium",
        "augmentation",
        "the write-up's medium level (D4, affine, photometric, fog, dropout) instead of D4",
        change=("augment.level=medium",),
    ),
    # --- encoder
    Row(
        "convnext",
        "encoder",
        "ConvNeXt encoder (timm test_convnext, from scratch, "
        "~1.1x the step time) instead of the EfficientNet",
        change=("model.preset=tiny-convnext-lean-gs",),
    ),
    # --- decoder context and the data regime (benchmarks/results/accuracy runs)
    Row(
        "context",
        "decoder",
        "window context: the deepest features get the mean features of 3x3 and 7x7 "
        "cells (96 and 224 px; tiny-lean-gs-ctx, +14 % weights)",
        change=("model.preset=tiny-lean-gs-ctx",),
        reuse={0: "ctx-1500", 1: "ctx-1500-s1"},
    ),
    Row(
        "stream",
        "data",
        "fresh synthetic tiles rendered for every item (data.stream: no tile seen twice) "
        "instead of the 512 fixed training tiles",
        change=("data.stream=true",),
        reuse={0: "stream-1500", 1: "stream-1500-s1"},
    ),
    # --- test-time augmentation and weights (scored from the reruns' checkpoints)
    Row("tta-none", "tta", "no TTA", measure="eval", source="tta:none"),
    Row("tta-flip", "tta", "flip TTA (2 views)", measure="eval", source="tta:flip"),
    Row("tta-d2", "tta", "D2 TTA (4 views)", measure="eval", source="tta:d2"),
    Row(
        "ema",
        "weights",
        f"EMA weights (decay {EMA_DECAY}) instead of the last checkpoint",
        measure="eval",
        source="ema",
    ),
    Row(
        "top3",
        "weights",
        "ensemble of the top-3 validation checkpoints (EMA weights, "
        "as geopose keeps them with train.ema) instead of the last checkpoint",
        measure="eval",
        source="top3",
    ),
    # --- the split's optimism (validation fold against held-out)
    Row(
        "val-group",
        "split",
        "validation-fold score, group folds (the reference's)",
        measure="eval",
        source="valfold",
    ),
    Row(
        "split-city",
        "split",
        "city-stratified folds (the write-up's leaky split): held-out score",
        change=("data.split=city-stratified",),
    ),
    Row(
        "val-city",
        "split",
        "validation-fold score, city-stratified folds",
        measure="eval",
        source="valfold",
        base="split-city",
    ),
    # --- not measurable on this CPU
    Row(
        "fp16-units",
        "precision",
        "heights in metres against centimetres under fp16",
        measure="none",
        why="fp16 training needs a GPU (none was lent to this task); "
        "geopose also computes its last head layer and every loss in fp32 outside "
        "autocast, so the overflow the write-up saw in fp16 cannot arise there",
    ),
    Row(
        "bf16",
        "precision",
        "bf16 against fp32 at equal steps",
        measure="none",
        why="this AVX2 CPU emulates bf16 (~16x slower a step, docs/accuracy.md) and no "
        "GPU was lent; 1,500 steps would take hours per seed",
    ),
)

BY_KEY = {r.key: r for r in ROWS}


def job_name(row: Row, seed: int) -> str:
    """The run / result name of ``row`` at ``seed``."""
    return f"abl-{row.key}-s{seed}"


def run_args(row: Row, seed: int) -> argparse.Namespace:
    """``accuracy.py run`` arguments of a training row at ``seed``."""
    return argparse.Namespace(
        name=job_name(row, seed), steps=REF_STEPS, train_tiles=REF_TILES, seed=seed,
        recipe=row.recipe, threads=REF_THREADS, tta="d4", device="cpu", reuse=False,
        overrides=list(row.overrides),
    )  # fmt: skip


def row_config(row: Row, seed: int = 0) -> Any:
    """The resolved :class:`geopose.config.Config` a training row runs (for checks)."""
    from geopose.training.recipes import run_config

    args = run_args(row if row.measure == "train" else BY_KEY["rerun"], seed)
    return run_config(_recipe_path(args.recipe), [*_TRAIN_FIXED(args), *args.overrides])


def _recipe_path(recipe: str) -> str:
    """A recipe name as is; a recipe file relative to the repository's root."""
    return str(ROOT / recipe) if recipe.endswith((".yaml", ".yml")) else recipe


def _TRAIN_FIXED(args: argparse.Namespace) -> list[str]:
    """The overrides accuracy.train adds to every run (keep in step with it)."""
    return [f"train.max_steps={args.steps}", f"train.seed={args.seed}",
            f"train.threads={args.threads}", "train.time_limit_s=null"]  # fmt: skip


# --- jobs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One result file to make: ``row`` at ``seed``."""

    row: Row
    seed: int

    @property
    def name(self) -> str:
        return job_name(self.row, self.seed)

    @property
    def result(self) -> Path:
        return OUT / f"{self.name}.json"

    @property
    def source_run(self) -> str:
        """The run whose checkpoints an eval job scores."""
        return job_name(BY_KEY[self.row.base], self.seed)

    @property
    def reused(self) -> str | None:
        """The benchmark result this (row, seed) reuses instead of training, if any."""
        return self.row.reuse.get(self.seed)

    def ready(self) -> bool:
        """Whether the job can start: an eval job needs its run's result first, a reused
        result's re-scoring that run's last checkpoint."""
        if self.reused is not None:
            return accuracy.last_checkpoint(self.reused).is_file()
        if self.row.measure != "eval":
            return True
        return (OUT / f"{self.source_run}.json").is_file()


def _order() -> list[Job]:
    """Every job, most important first (seed 1 of rows measured at seed 0 first, then
    the reference's reruns, their eval rows, then seed 0 of the losses, heads,
    orientation, augmentation, encoder and the split, then their seed 1)."""
    first = [("rerun", 0), ("mse", 0), ("rerun", 1), ("mse", 1)]
    jobs = [Job(BY_KEY[k], s) for k, s in first]
    # Reused results lack the per-tile sums: their runs' last checkpoints are scored
    # again where they exist (copied into benchmarks/runs/<name>/checkpoints).
    jobs += [Job(r, s) for r in ROWS for s in r.reuse]
    evals = [r for r in ROWS if r.measure == "eval" and r.base == "rerun"]
    jobs += [Job(r, s) for s in SEEDS for r in evals]
    trained = [r for r in ROWS if r.measure == "train" and r.key not in ("ref", "rerun")]
    # Breadth first: every row at seed 0 (and the split's validation score) before any
    # row's seed 1, so a session that ends early leaves a whole table, one seed deep.
    for s in SEEDS:
        jobs += [Job(r, s) for r in trained if s not in r.reuse]
        jobs.append(Job(BY_KEY["val-city"], s))
    seen: set[str] = set()
    out = []
    for j in jobs:
        if j.name not in seen:
            seen.add(j.name)
            out.append(j)
    return out


JOBS = _order()


def _claim(name: str) -> bool:
    accuracy.RUNS.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(accuracy.RUNS / f"{name}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, f"{os.getpid()} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode())
    os.close(fd)
    return True


def pending() -> list[Job]:
    """Jobs without a result, in queue order."""
    return [j for j in JOBS if not j.result.is_file()]


# --- scoring -----------------------------------------------------------------------------


def _stats_to_json(stats: Sequence[Any]) -> dict[str, Any]:
    """The per-tile sums the score is made of (9 significant digits; enough for R²)."""
    return {
        "city": [t.city for t in stats],
        "agl": [[float(f"{x:.9g}") for x in t.agl] for t in stats],
        "vflow": [[float(f"{x:.9g}") for x in t.vflow] for t in stats],
    }


def stats_from_json(data: Mapping[str, Any]) -> list[Any]:
    """Tile statistics back from :func:`_stats_to_json` (figures beyond the R² sums are
    zero: they are not stored)."""
    from geopose.intervals import HEIGHT_BINS, TileStats

    empty = tuple((0.0, 0.0, 0.0) for _ in HEIGHT_BINS)
    return [
        TileStats(c, tuple(a), tuple(v), 0.0, 0.0, 0.0, empty)
        for c, a, v in zip(data["city"], data["agl"], data["vflow"], strict=True)
    ]


def _scored(stats: list[Any], seconds: float) -> dict[str, Any]:
    from geopose.intervals import score_with_intervals

    report = score_with_intervals(stats, resamples=1000).as_dict()
    return {**report, "predict_s": seconds, "tile_stats": _stats_to_json(stats)}


def val_samples(split: str) -> list[dict[str, Any]]:
    """The validation fold's tiles (with truth) of a training run on ``train-128`` with
    ``split`` (32 folds, fold 0: the reference recipe's), as the trainer picks them."""
    from geopose.data.folds import split_ids
    from geopose.io import load_sample, open_layout
    from geopose.training.trainer import FOLD_SEED

    layout = open_layout(accuracy.train_root(REF_TILES))
    entries = {e.id: e for e in layout.entries("train")}
    metas = [layout.metadata[i] for i in sorted(entries)]
    _, val = split_ids(metas, 32, 0, split, FOLD_SEED)
    return [load_sample(entries[i]) for i in val]


def ema_checkpoint(run: str) -> Path:
    """Write (once) the EMA weights of ``run``'s last training state as a checkpoint."""
    from geopose.checkpoint import read_checkpoint_header, read_checkpoint_metadata, save_checkpoint
    from geopose.training.state import load_state

    ckpt = accuracy.RUNS / run / "checkpoints"
    out = ckpt / "ema-last.safetensors"
    if not out.is_file():
        state = load_state(ckpt / "last.state.safetensors")
        if not state.get("ema"):
            raise SystemExit(f"{ckpt}: the run kept no EMA weights (train.ema unset)")
        last = ckpt / "last.safetensors"
        config, extra = read_checkpoint_metadata(last)
        model = read_checkpoint_header(last).model
        save_checkpoint(out, state["ema"], config, extra, model=model)
    return out


def top_checkpoints(run: str, k: int = 3) -> list[Path]:
    """The ``k`` best validation checkpoints of ``run`` (best-<step>-<score>)."""
    files = sorted(
        (accuracy.RUNS / run / "checkpoints").glob("best-*.safetensors"),
        key=lambda p: -float(p.stem.split("-", 2)[2]),
    )
    if len(files) < k:
        raise SystemExit(f"{run}: {len(files)} best checkpoints, need {k}")
    return files[:k]


def _children_cpu_s() -> float:
    """CPU time (user + system, s) of this process's finished children so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: The fields of a benchmark run's result that describe its training.
_RUN_FIELDS = ("kind", "command", "recipe", "steps", "train_tiles_per_city", "overrides",
               "threads", "device", "train_s")  # fmt: skip


def finished_training_s(run: str) -> float | None:
    """The wall time (s) of ``run``'s training when it reached ``REF_STEPS`` and wrote its
    last checkpoint (the trainer's closing line in ``<run>.log``); None otherwise."""
    log = accuracy.RUNS / f"{run}.log"
    if not (accuracy.last_checkpoint(run).is_file() and log.is_file()):
        return None
    for line in reversed(log.read_text().splitlines()):
        found = re.match(rf"finished: step {REF_STEPS},.*, ([0-9.]+) s; run in ", line)
        if found:
            return float(found.group(1))
    return None


def do_job(job: Job) -> dict[str, Any]:
    """Run ``job`` (train and score, or score checkpoints) and return its result."""
    row, seed = job.row, job.seed
    record: dict[str, Any] = {"row": row.key, "seed": seed, "name": job.name}
    if job.reused is not None:
        reused = json.loads((accuracy.RESULTS / f"{job.reused}.json").read_text())
        record.update({k: v for k, v in reused.items() if k in _RUN_FIELDS})
        record["reused"] = job.reused
        checkpoints = [accuracy.last_checkpoint(job.reused)]
        tta, samples = "d4", None
    elif row.measure == "train":
        args = run_args(row, seed)
        finished = finished_training_s(args.name)
        if finished is not None:
            # The training ran to its last step but the job stopped before it was scored
            # (a session's end): score that checkpoint rather than train again.
            args.reuse = True
            accuracy.train(args)
            record.update(accuracy.run_record(args, finished))
            record["train_cpu_s"] = None
        else:
            cpu = _children_cpu_s()
            seconds = accuracy.train(args)
            record.update(accuracy.run_record(args, seconds))
            # Wall time counts pauses (the machine is shared; jobs may be stopped for
            # minutes): the training process's own CPU time is the comparable figure.
            record["train_cpu_s"] = _children_cpu_s() - cpu
        checkpoints = [accuracy.last_checkpoint(args.name)]
        tta, samples = "d4", None
    elif row.measure == "eval":
        src = job.source_run
        tta, samples = "d4", None
        kind = row.source
        if kind.startswith("tta:"):
            tta = kind.split(":", 1)[1]
            checkpoints = [accuracy.last_checkpoint(src)]
        elif kind == "ema":
            checkpoints = [ema_checkpoint(src)]
        elif kind == "top3":
            checkpoints = top_checkpoints(src)
        elif kind == "valfold":
            split = str(row_config(BY_KEY[row.base], seed).data.split)
            checkpoints = [accuracy.last_checkpoint(src)]
            samples = val_samples(split)
            record["split"] = split
        else:
            raise SystemExit(f"row {row.key}: unknown source {kind!r}")
        record.update({
            "kind": "eval", "source_run": src, "tta": tta,
            "checkpoints": [str(p.relative_to(ROOT)) for p in checkpoints],
            "command": f"python benchmarks/ablations.py job {job.name}",
        })  # fmt: skip
    else:
        raise SystemExit(f"row {row.key} is not measured here: {row.why}")
    start = time.perf_counter()
    stats = accuracy.predict_tile_stats(checkpoints, tta, REF_THREADS, "cpu", samples)
    record.update(_scored(stats, time.perf_counter() - start))
    return record


def write_result(job: Job, result: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = job.result.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(job.result)


def next_job() -> int:
    """Run the first pending, ready, unclaimed job; 3 when none is left to start."""
    for job in pending():
        if job.ready() and _claim(job.name):
            print(f"{time.strftime('%H:%M:%S')} {job.name}: start", flush=True)
            try:
                write_result(job, do_job(job))
            except (Exception, SystemExit) as err:
                # The claim stays, so the lane moves on to the next job; the reason is
                # kept beside it (remove both and the run folder to try again).
                note = accuracy.RUNS / f"{job.name}.failed"
                note.write_text(f"{type(err).__name__}: {err}\n")
                print(f"{time.strftime('%H:%M:%S')} {job.name}: FAILED ({err})", flush=True)
                return 0
            print(f"{time.strftime('%H:%M:%S')} {job.name}: done", flush=True)
            return 0
    return 3


# --- the table ---------------------------------------------------------------------------

BEGIN, END = "<!-- ablations:begin (benchmarks/ablations.py table) -->", "<!-- ablations:end -->"


def load_results() -> dict[tuple[str, int], dict[str, Any]]:
    """Every (row, seed) result: this table's own, else the reused benchmark result."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for row in ROWS:
        for seed in SEEDS:
            own = OUT / f"{job_name(row, seed)}.json"
            if own.is_file():
                out[row.key, seed] = json.loads(own.read_text())
            elif seed in row.reuse:
                path = accuracy.RESULTS / f"{row.reuse[seed]}.json"
                if path.is_file():
                    out[row.key, seed] = {**json.loads(path.read_text()),
                                          "reused": row.reuse[seed]}  # fmt: skip
    return out


def _stats(result: Mapping[str, Any] | None) -> list[Any] | None:
    if not result or "tile_stats" not in result:
        return None
    return stats_from_json(result["tile_stats"])


def _iv(d: Mapping[str, float] | None, signed: bool = False) -> str:
    if not d:
        return "–"
    f = "{:+.3f}" if signed else "{:.3f}"
    if "low" not in d:  # a mean of results without per-tile sums: no interval
        return f.format(d["value"]).replace("-", "−") + " [–]"
    return f"{f.format(d['value'])} [{f.format(d['low'])}, {f.format(d['high'])}]".replace("-", "−")


def _command(row: Row, result: Mapping[str, Any] | None, seed: int) -> str:
    if result and "command" in result:
        return str(result["command"])
    if row.measure == "train":
        return accuracy.run_command(run_args(row, seed))
    return f"python benchmarks/ablations.py job {job_name(row, seed)}"


def summarize(results: Mapping[tuple[str, int], Mapping[str, Any]]) -> dict[str, Any]:
    """The table's content: per row its seeds, their pooled figures and the difference
    against the row's base (paired over the held-out tiles, pooled over the seeds that
    both have)."""
    from geopose.intervals import FIGURES, difference, mean_over_models

    rows = []
    for row in ROWS:
        if row.measure == "none":
            continue
        entry: dict[str, Any] = {
            "key": row.key, "group": row.group, "label": row.label,
            "change": list(row.change), "recipe": row.recipe, "measure": row.measure,
            "source": row.source, "base": row.base or None, "seeds": {},
        }  # fmt: skip
        stats = {}
        for seed in SEEDS:
            r = results.get((row.key, seed))
            cell: dict[str, Any] = {"command": _command(row, r, seed), "measured": bool(r)}
            if r:
                cell.update({f: r[f] for f in FIGURES})
                for k in ("train_s", "train_cpu_s", "predict_s", "reused", "source_run"):
                    if r.get(k) is not None and not (isinstance(r[k], float) and math.isnan(r[k])):
                        cell[k] = r[k]
                st = _stats(r)
                if st is not None:
                    stats[seed] = st
            entry["seeds"][str(seed)] = cell
        measured = [s for s in SEEDS if results.get((row.key, s))]
        entry["measured_seeds"] = measured
        if len(stats) == len(measured) and stats:
            entry["pooled"] = {
                f: iv.as_dict() for f, iv in mean_over_models(list(stats.values())).items()
            }
        elif measured:
            entry["pooled"] = {
                f: {"value": float(np.mean([results[row.key, s][f]["value"] for s in measured]))}
                for f in FIGURES
            }
        base = BY_KEY.get(row.base)
        if base is not None:
            base_stats = {s: _stats(results.get((base.key, s))) for s in SEEDS}
            both = [s for s in stats if base_stats.get(s) is not None]
            paired = row.source != "valfold"
            if both:
                mine, theirs = [stats[s] for s in both], [base_stats[s] for s in both]
                d = difference(mine, theirs, paired=paired)
                entry["delta"] = {f: iv.as_dict() for f, iv in d.items()}
                entry["delta_seeds"] = both
                entry["delta_paired"] = paired
                entry["delta_by_seed"] = {
                    str(s): difference([a], [b], paired=paired)["score"].as_dict()
                    for s, a, b in zip(both, mine, theirs, strict=True)
                }
        rows.append(entry)
    unmeasured = [
        {"key": r.key, "group": r.group, "label": r.label, "why": r.why}
        for r in ROWS if r.measure == "none"
    ]  # fmt: skip
    return {
        "reference": {
            "recipe": REF_RECIPE, "steps": REF_STEPS, "train_tiles_per_city": REF_TILES,
            "threads": REF_THREADS, "overrides": list(REF_OVERRIDES), "tta": "d4",
            "seeds": list(SEEDS),
        },
        "rows": rows,
        "unmeasured": unmeasured,
    }  # fmt: skip


def _minutes(cell: Mapping[str, Any]) -> str:
    wall, cpu = cell.get("train_s"), cell.get("train_cpu_s")
    if wall is None:
        return "–"
    return f"{wall / 60:.0f}" + (f" ({cpu / 60:.0f})" if cpu is not None else "")


def markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown tables (pooled, per seed, commands, unmeasured)."""
    lines = [
        "| row | group | seeds | score, pooled [95 % CI] | AGL R² | VFLOW R² | "
        "Δ score vs base [95 % CI] | Δ AGL R² | Δ VFLOW R² | Δ score per seed [95 % CI] |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in summary["rows"]:
        pooled = e.get("pooled", {})
        delta = e.get("delta", {})
        seeds = ",".join(str(s) for s in e["measured_seeds"]) or "–"
        per_seed = " · ".join(f"s{k} {_iv(v, True)}" for k, v in e.get("delta_by_seed", {}).items())
        base = f" (vs {e['base']}{'' if e.get('delta_paired', True) else ', unpaired'})"
        lines.append(
            f"| **{e['key']}**: {e['label']} | {e['group']} | {seeds} | "
            f"{_iv(pooled.get('score'))} | {_iv(pooled.get('agl_r2'))} | "
            f"{_iv(pooled.get('vflow_r2'))} | "
            f"{_iv(delta.get('score'), True) + (base if delta else '')} | "
            f"{_iv(delta.get('agl_r2'), True)} | {_iv(delta.get('vflow_r2'), True)} | "
            f"{per_seed or '–'} |"
        )
    lines += [
        "",
        "Per seed (training minutes: wall clock, and in brackets the training process's "
        "CPU time; the difference is pauses of the shared machine):",
        "",
        "| row | seed | score [95 % CI] | AGL R² | VFLOW R² | train min |",
        "|---|---|---|---|---|---|",
    ]
    for e in summary["rows"]:
        for seed, cell in e["seeds"].items():
            if not cell["measured"]:
                continue
            note = f" (= {cell['reused']})" if "reused" in cell else ""
            lines.append(
                f"| {e['key']}{note} | {seed} | {_iv(cell['score'])} | {_iv(cell['agl_r2'])} | "
                f"{_iv(cell['vflow_r2'])} | {_minutes(cell)} |"
            )
    lines += ["", "Commands (one per row and seed; `abl-…` names are this table's runs):", ""]
    lines.append("```")
    for e in summary["rows"]:
        for cell in e["seeds"].values():
            lines.append(cell["command"])
    lines.append("```")
    if summary["unmeasured"]:
        lines += ["", "Not measured here:", ""]
        for u in summary["unmeasured"]:
            lines.append(f"- **{u['key']}** ({u['label']}): {u['why']}.")
    return "\n".join(lines)


def effects_figure(summary: Mapping[str, Any]) -> Any:
    """A forest plot: per row with a base, the change of score against it (pooled over
    the seeds, with its 95 % interval) and each seed's change as a dot; rows in the
    table's order, top to bottom."""
    from geopose.viz.figure import new_figure

    rows = [r for r in summary["rows"] if "delta" in r]
    fig = new_figure(8.0, 0.8 + 0.32 * len(rows))
    ax = fig.add_subplot()
    labels = []
    for y, r in enumerate(reversed(rows)):
        d = r["delta"]["score"]
        both = len(r["delta_seeds"]) > 1
        colour = "tab:blue" if both else "tab:gray"
        ax.errorbar(
            d["value"], y, xerr=[[d["value"] - d["low"]], [d["high"] - d["value"]]],
            fmt="s", color=colour, capsize=3, markersize=5,
        )  # fmt: skip
        for seed, ds in r["delta_by_seed"].items():
            ax.plot(ds["value"], y, "o", color="black", markersize=3, alpha=0.6)
            ax.annotate(f"s{seed}", (ds["value"], y), xytext=(2, 3), textcoords="offset points",
                        fontsize=6, alpha=0.6)  # fmt: skip
        seeds = ",".join(str(s) for s in r["delta_seeds"])
        labels.append(f"{r['key']} ({r['group']}; seeds {seeds})")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("Δ held-out score against the row's base", fontsize=9)
    ax.set_title("squares: pooled over the seeds, 95 % CI (grey: one seed so far); dots: each seed",
                 fontsize=8)  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    return fig


def write_table() -> str:
    """Write results/ablations.json, the table in docs/ablations.md (between the
    markers; the prose around them is kept) and the forest plot; returns the Markdown."""
    from geopose.viz.figure import figure_png

    summary = summarize(load_results())
    TABLE_JSON.write_text(json.dumps(summary, indent=1) + "\n")
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    FIGURE.write_bytes(figure_png(effects_figure(summary)))
    text = markdown(summary)
    doc = DOC.read_text() if DOC.is_file() else f"# Ablations\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{DOC}: the table markers are missing ({BEGIN} … {END})")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("list", help="rows, jobs and their state")
    sub.add_parser("next", help="run the first pending job (exit 3: nothing to start)")
    p = sub.add_parser("job", help="run one job by name (abl-<row>-s<seed>)")
    p.add_argument("name")
    p = sub.add_parser("show-config", help="the resolved config of a row")
    p.add_argument("row")
    sub.add_parser("table", help="write docs/ablations.md and results/ablations.json")
    args = parser.parse_args(argv)
    if args.verb == "list":
        for job in JOBS:
            state = (
                "done"
                if job.result.is_file()
                else ("claimed" if (accuracy.RUNS / f"{job.name}.claim").is_file() else "pending")
            )
            print(f"{job.name:24s} {state}")
    elif args.verb == "next":
        return next_job()
    elif args.verb == "job":
        match = [j for j in JOBS if j.name == args.name]
        if not match:
            raise SystemExit(f"no job {args.name!r}; see `ablations.py list`")
        write_result(match[0], do_job(match[0]))
    elif args.verb == "show-config":
        from geopose.config import config_to_dict

        print(json.dumps(config_to_dict(row_config(BY_KEY[args.row])), indent=1))
    else:
        print(write_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
