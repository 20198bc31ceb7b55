"""The training loop: ``train(config, out_dir, resume=False) -> TrainResult``.

Read top to bottom, one optimizer step is (see :meth:`Trainer.optimizer_step`):

1. set the learning rate of this step from the schedule (a pure function of the step,
   so a resumed run gets the same rates);
2. for each of ``train.grad_accum`` micro-batches: forward under the run's autocast,
   the loss in float32 (targets in metres), backward of the scaled loss (DDP
   synchronises gradients on the last micro-batch only);
3. unscale the gradients (fp16), clip them, and check that the loss and the gradient
   norm are finite on every rank; a non-finite step is skipped and counted, and
   ``train.max_nonfinite`` of them in a row stop the run (exit code 3);
4. optimizer step, EMA update, and a check that the weights are still finite.

An epoch is one pass over the training fold in an order fixed by ``(seed, epoch)``.
After each epoch (and at the end of the run) the model is validated on whole tiles of
the validation fold, a record goes to ``RUN/metrics.jsonl``, and ``last`` plus the
top-k ``best-…`` checkpoints are written. ``--resume`` restores weights, optimizer,
schedule, scaler, RNG and the position inside the epoch, so the run continues exactly
where it stopped. Resuming with a larger ``train.max_steps`` or ``train.epochs``
extends a run: the learning-rate schedule then spans the new length from the current
step (it continues from the rate reached there, it does not restart the warm-up).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from geopose.checkpoint import load_checkpoint, read_checkpoint_header
from geopose.config import Config, config_to_dict, load_config, read_yaml
from geopose.data.cache import RasterCache
from geopose.data.collate import Batch, batch_to_device, collate_samples
from geopose.data.dataset import SynthStreamDataset, TrainDataset, ValDataset, build_cache
from geopose.data.folds import split_ids
from geopose.data.sampler import EpochSampler, steps_per_epoch
from geopose.errors import DataError, JobAborted, UsageError
from geopose.io.catalog import open_layout
from geopose.io.layout import Entry
from geopose.losses import build_loss
from geopose.models import ModelSpec
from geopose.models.weights import load_strict
from geopose.precision import autocast, grad_scaler
from geopose.runtime import Runtime, peak_rss_mib
from geopose.training.determinism import CUBLAS_WORKSPACE, cuda_nondeterministic_backwards
from geopose.training.ema import ModelEma
from geopose.training.nonfinite import NonFiniteGuard, weights_finite
from geopose.training.optim import build_optimizer, scaled_lr
from geopose.training.run_files import RunFiles, checked_best_rows
from geopose.training.schedule import LRSchedule
from geopose.training.start_model import start_model
from geopose.training.state import pack_state, rng_state, set_rng_state, unpack_state
from geopose.training.validate import evaluate, sync_buffers

#: Folds depend on the data only, not on train.seed, so runs with different seeds
#: (an ensemble) share their validation fold.
FOLD_SEED = 0


@dataclass
class StepStatus:
    """What the per-step callback sees (rank 0 only)."""

    step: int  # optimizer steps applied so far
    total_steps: int
    epoch: int
    loss: float  # total loss of the step (NaN if it was skipped)
    lr: float
    images_per_s: float
    skipped_steps: int
    elapsed_s: float


@dataclass
class TrainHooks:
    """Optional callbacks of a run.

    ``on_step(status)`` after every step on rank 0 (live status lines, the demo).
    ``on_loss(loss, step) -> loss`` sees each micro-batch's total loss before backward
    and returns the loss to use (inspection and fault injection in tests).
    """

    on_step: Callable[[StepStatus], None] | None = None
    on_loss: Callable[[torch.Tensor, int], torch.Tensor] | None = None


@dataclass
class TrainResult:
    """How a run ended."""

    run_dir: Path
    step: int
    epoch: int
    stopped: str  # finished | time_limit | stop_after_steps | already_finished
    score: float | None  # last validation score
    best_score: float | None
    skipped_steps: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    rank: int = 0  # this process's rank (only rank 0 writes and reports)

    @property
    def last_checkpoint(self) -> Path:
        """``RUN/checkpoints/last.safetensors``: the weights at the end of the run."""
        return RunFiles(self.run_dir).last


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """The saved config of ``run_dir`` with ``key=value`` overrides applied."""
    files = RunFiles(run_dir)
    if not files.config.exists():
        raise DataError(files.config, "not a training run (config.yaml missing)")
    if not files.last_state.exists():
        raise DataError(files.last_state, "no checkpoint to resume from")
    saved = read_yaml(files.config)
    config = load_config(None, overrides, base=saved)
    if config_to_dict(config)["model"] != saved.get("model"):
        raise UsageError("--resume cannot change the model section (model.*)")
    return config


def train(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    *,
    hooks: TrainHooks | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or with ``resume`` continue) a run in ``out_dir``; see the module text."""
    trainer = Trainer(config, Path(out_dir), hooks or TrainHooks(), progress)
    try:
        return trainer.run(resume)
    finally:
        trainer.close()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global generator and torch (the run's model init draws here)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - libraries still draw from it
    torch.manual_seed(seed)


def _spec(data: dict[str, Any]) -> ModelSpec:
    return ModelSpec.from_dict(data)


def _peak_mem_mb(device: torch.device) -> float:
    """Peak memory of this process in MB: CUDA allocator peak, or the CPU max RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mib()


def no_sync(model: torch.nn.Module, skip: bool) -> contextlib.AbstractContextManager[Any]:
    """DDP's ``no_sync()`` when ``skip`` (gradient accumulation), else a no-op. It is
    asked of the DDP wrapper itself, also when ``torch.compile`` wraps it (the compiled
    module is no DistributedDataParallel, so testing its type would all-reduce the
    gradients of every micro-batch)."""
    inner = getattr(model, "_orig_mod", model)
    if skip and isinstance(inner, DistributedDataParallel):
        return inner.no_sync()
    return contextlib.nullcontext()


def build_cache_together(
    entries: list[Entry], cache_dir: Path, runtime: Runtime, progress: bool = False
) -> None:
    """Decode every tile into the cache at ``cache_dir``, the work shared by all ranks.

    Rank r decodes tiles r, r + world, …; after each round of one tile per rank the
    ranks meet at a barrier, so no collective ever waits longer than one tile's
    decoding (a single barrier after the whole cache would wait for all of it and hit
    the process group's timeout on large datasets).
    """
    cache = RasterCache(cache_dir)
    mine = runtime.take(entries)
    rounds = -(-len(entries) // runtime.world_size)
    for i in tqdm(
        range(rounds), desc="decoding tiles into the cache", unit="round", disable=not progress
    ):
        if i < len(mine):
            build_cache([mine[i]], cache, progress=False)
        runtime.barrier()


class Trainer:
    """One run's objects and counters; :meth:`run` is the loop."""

    def __init__(self, config: Config, out_dir: Path, hooks: TrainHooks, progress: bool):
        self.config, self.hooks = config, hooks
        self.cfg_dict = config_to_dict(config)
        self.files = RunFiles(out_dir)
        t = config.train
        # The device and precision are resolved here, once; the CPU threads set.
        self.runtime = Runtime.from_env(
            t.device, t.precision, t.threads, training=True, group_timeout_s=t.group_timeout_s
        )
        if self.runtime.distributed and not (self.runtime.join_group() or dist.is_initialized()):
            raise UsageError(
                f"WORLD_SIZE={self.runtime.world_size} but no MASTER_ADDR to join the other "
                "processes: start distributed training with torchrun"
            )
        self.device = self.runtime.device
        self.progress = progress and self.runtime.is_main
        self.precision = self.runtime.precision
        if t.deterministic:
            # Same data, same seed, same machine → the same weights, bit for bit on a CPU;
            # on CUDA within rounding only (training.determinism).
            if self.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        else:
            torch.backends.cudnn.benchmark = True
        seed_everything(t.seed + self.runtime.rank)
        self._build_data()
        self._build_model()
        self.optimizer = build_optimizer(self.raw_model, config.optim, self.runtime.world_size)
        self.total_steps = t.max_steps or t.epochs * self.steps_per_epoch
        if self.total_steps <= 0:
            raise UsageError("nothing to train: train.epochs=0 and train.max_steps unset")
        self.schedule = LRSchedule(
            config.schedule.name,
            scaled_lr(config.optim, self.runtime.world_size),
            self.total_steps,
            warmup_steps=config.schedule.warmup_steps,
            min_lr_ratio=config.schedule.min_lr_ratio,
        )
        self.scaler = grad_scaler(self.precision, self.device)
        self.loss_fn = build_loss(config.loss.terms)
        self.guard = NonFiniteGuard(t.max_nonfinite)
        # Counters saved with every checkpoint.
        self.step = 0  # optimizer steps applied
        self.epoch = 0
        self.epoch_batches = 0  # global steps (applied or skipped) consumed in this epoch
        self.epoch_sums: dict[str, float] = {}
        self.epoch_count = 0
        self.best: list[list[Any]] = []
        self.elapsed_before = 0.0  # training time of earlier sessions of this run
        self._torn = False  # resumed from a state newer than last.safetensors
        self.history: list[dict[str, Any]] = []
        self.last_score: float | None = None
        self.lr = self.schedule.lr(0)
        self._rng_states: list[dict[str, Any]] = []  # every rank's, gathered before a save
        self._checked_determinism = not (t.deterministic and self.device.type == "cuda")
        self._start = time.monotonic()
        self._epoch_started_at = 0.0

    # ------------------------------------------------------------------ set-up
    def _build_data(self) -> None:
        c, rt = self.config, self.runtime
        if not c.data.root:
            raise UsageError("no data: give --data DIR (or data.root=DIR)")
        layout = open_layout(c.data.root)
        entries = {e.id: e for e in layout.entries("train")}
        metas = [layout.metadata[i] for i in sorted(entries)]
        train_ids, val_ids = split_ids(metas, c.data.folds, c.data.fold, c.data.split, FOLD_SEED)
        cache_dir = Path(c.data.cache_dir or Path(c.data.root) / ".geopose-cache")
        train_entries: list[Entry] = [entries[i] for i in train_ids]
        val_entries: list[Entry] = [entries[i] for i in val_ids]
        t = c.train
        self.train_set: TrainDataset | SynthStreamDataset
        if c.data.stream:
            # Fresh tiles of the fold's cities, as many per epoch as the fold has: the
            # epoch's length and city mix stay those of the files it replaces.
            build_cache_together(val_entries, cache_dir, rt, self.progress)
            self.train_set = SynthStreamDataset(
                [e.city for e in train_entries], size=c.data.stream_size,
                level=c.augment.level, crop_size=t.crop_size, seed=t.seed,
            )  # fmt: skip
        else:
            build_cache_together([*train_entries, *val_entries], cache_dir, rt, self.progress)
            self.train_set = TrainDataset(
                train_entries, cache_dir, level=c.augment.level, crop_size=t.crop_size, seed=t.seed
            )
        # Each rank validates a disjoint share of the tiles.
        self.val_set = ValDataset(val_entries[rt.rank :: rt.world_size], cache_dir)
        self.n_val = len(val_entries)
        self.steps_per_epoch = steps_per_epoch(
            len(self.train_set), t.batch_size, rt.world_size, t.grad_accum
        )
        if self.steps_per_epoch == 0:
            need = t.batch_size * rt.world_size * t.grad_accum
            raise UsageError(
                f"{len(self.train_set)} training images cannot fill one step of {need} "
                "(train.batch_size × processes × train.grad_accum)"
            )

    def _build_model(self) -> None:
        c, rt = self.config, self.runtime
        # A geopose checkpoint in model.weights is the whole model (fine-tuning); any
        # other file holds encoder weights (training.start_model).
        start = start_model(c.model)
        if rt.is_main and self.progress:
            print(f"model: {start.origin}", file=sys.stderr)
        model = start.model.to(self.device)
        self.model_spec = model.spec.to_dict()  # what every checkpoint of the run carries
        if c.train.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if rt.distributed and c.train.sync_bn and self.device.type == "cuda":
            # Per-GPU batches are small; SyncBN computes statistics over the global batch.
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.raw_model = model
        self.ema = ModelEma(model, c.train.ema) if c.train.ema else None
        wrapped: torch.nn.Module = model
        if rt.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = DistributedDataParallel(model, device_ids=ids)
        if c.train.compile:
            wrapped = torch.compile(wrapped)  # type: ignore[assignment]
        self.model = wrapped

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """Everything beyond the weights that an exact resume needs."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "epoch_batches": self.epoch_batches,
            "epoch_sums": dict(self.epoch_sums),
            "epoch_count": self.epoch_count,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self._rng_states or [rng_state(self.device)],  # one per rank
            "guard": self.guard.state_dict(),
            "best": self.best,
            "ema": self.ema.module.state_dict() if self.ema else None,
            "elapsed_s": self.elapsed(),
            "last_score": self.last_score,
        }

    def load(self) -> None:
        """Restore the run from RUN/checkpoints/last.* (weights, optimizer, RNG, position)."""
        state = self.files.load_last()
        weights, _, extra = load_checkpoint(self.files.last)
        saved_step = int(extra.get("step", -1))
        self._torn = saved_step < int(state["step"])
        if self._torn and isinstance(state.get("weights"), dict):
            # Killed between renaming the state and the weights: the state is newer and
            # carries its own copy of the weights.
            weights = state["weights"]
        elif saved_step != int(state["step"]):
            raise DataError(
                self.files.last_state,
                f"training state is at step {state['step']} but {self.files.last.name} "
                f"at step {extra.get('step')} (a write was interrupted); cannot resume exactly",
            )
        saved_spec = read_checkpoint_header(self.files.last).model
        # Compared as specs, so fields added since the run began (at their defaults) pass.
        if saved_spec is not None and _spec(saved_spec) != _spec(self.model_spec):
            raise DataError(
                self.files.last,
                f"the run's model differs from what preset {self.config.model.preset!r} "
                "builds today (the preset was edited, or the checkpoint in model.weights "
                "changed); cannot resume exactly",
            )
        load_strict(self.raw_model, weights, self.files.last)  # names missing/unexpected keys
        self.optimizer.load_state_dict(state["optimizer"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.guard.load_state_dict(state["guard"])
        if self.ema is not None and state["ema"] is not None:
            load_strict(self.ema.module, state["ema"], self.files.last_state)
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.epoch_batches = int(state["epoch_batches"])
        self.epoch_sums = {k: float(v) for k, v in state["epoch_sums"].items()}
        self.epoch_count = int(state["epoch_count"])
        self.best = checked_best_rows(state["best"], self.files.last_state)
        self.elapsed_before = float(state["elapsed_s"])
        self.last_score = state.get("last_score")
        self.schedule = LRSchedule.from_state(state["schedule"])
        if self.total_steps != self.schedule.total_steps and self.total_steps > self.step:
            # A longer (or shorter) run: the schedule spans the new length from here.
            self.schedule.extend(self.step, self.total_steps)
        self._restore_rng(state["rng"])

    def _restore_rng(self, saved: dict[str, Any] | list[dict[str, Any]]) -> None:
        """This rank's random state from the state file (each rank saved its own). A run
        resumed with more processes than it was saved with seeds the new ranks afresh
        (its data order differs anyway, so the resume is not exact)."""
        states = [saved] if isinstance(saved, dict) else list(saved)  # older files: rank 0's
        rank = self.runtime.rank
        if rank < len(states):
            set_rng_state(states[rank], self.device)
        else:
            seed_everything(self.config.train.seed + rank + 1_000_003 * self.step)

    # ------------------------------------------------------------------ loop
    def run(self, resume: bool) -> TrainResult:
        self._start = time.monotonic()
        if resume:
            self.load()
        self._epoch_started_at = self.elapsed_before
        if self.runtime.is_main:
            self.files.prepare(self.cfg_dict)
        if self.step >= self.total_steps:
            if resume and self._torn:
                # Killed between the two renames of the final checkpoint: the state holds
                # the last step's weights, last.safetensors the step before; write it.
                self._save_last()
            return self._result("already_finished")
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        try:
            stopped = self._epochs(bar)
        finally:
            bar.close()
        return self._result(stopped)

    def _epochs(self, bar: tqdm) -> str:
        while True:
            loader = self._train_loader()
            stop = self._one_epoch(loader, bar)
            if stop == "stop_after_steps":
                self._save_last()  # as if killed right after this checkpoint
                return stop
            epoch_done = self.epoch_batches >= self.steps_per_epoch
            run_done = self.step >= self.total_steps
            self._end_of_period(epoch_done)
            if stop == "time_limit" or run_done:
                return stop or "finished"

    def _train_loader(self) -> DataLoader[Any]:
        t, rt = self.config.train, self.runtime
        self.train_set.set_epoch(self.epoch)
        sampler = EpochSampler(
            len(self.train_set),
            batch_size=t.batch_size,
            grad_accum=t.grad_accum,
            seed=t.seed,
            epoch=self.epoch,
            rank=rt.rank,
            world_size=rt.world_size,
            start_batch=self.epoch_batches * t.grad_accum,
        )
        # The loader gets its own generator so it never draws from the global RNG,
        # whose state a resumed run restores.
        gen = torch.Generator().manual_seed(t.seed * 100_003 + self.epoch)
        return DataLoader(
            self.train_set,
            batch_size=t.batch_size,
            sampler=sampler,
            num_workers=t.workers,
            collate_fn=collate_samples,
            pin_memory=self.device.type == "cuda",
            generator=gen,
            persistent_workers=False,
        )

    def _one_epoch(self, loader: DataLoader[Any], bar: tqdm) -> str | None:
        """Run steps until the epoch or the run ends, or a stop condition; returns it."""
        t = self.config.train
        batches = iter(loader)
        while self.epoch_batches < self.steps_per_epoch and self.step < self.total_steps:
            tic = time.monotonic()
            micro = [next(batches) for _ in range(t.grad_accum)]
            loss, terms, ok = self.optimizer_step(micro)
            self.epoch_batches += 1
            images = sum(len(b["id"]) for b in micro) * self.runtime.world_size
            rate = images / max(time.monotonic() - tic, 1e-9)
            self._account(loss, terms, ok, rate, bar)
            if t.checkpoint_every and ok and self.step % t.checkpoint_every == 0:
                self._save_last()
            if t.stop_after_steps is not None and self.step >= t.stop_after_steps:
                return "stop_after_steps"
            # Asked of every rank (a collective and a host read) only when there is a
            # limit: train.time_limit_s is the same on every rank.
            if t.time_limit_s is not None and self.runtime.any_true(
                self.elapsed() >= t.time_limit_s
            ):
                return "time_limit"
        return None

    def optimizer_step(self, micro: list[Batch]) -> tuple[float, dict[str, float], bool]:
        """One optimizer step over ``micro`` batches; returns (loss, terms, applied)."""
        t = self.config.train
        self.model.train()
        self.lr = self.schedule.apply(self.optimizer, self.step)
        loss_sum = torch.zeros((), device=self.device)
        term_sums: dict[str, torch.Tensor] = {}
        for i, raw in enumerate(micro):
            batch = batch_to_device(raw, self.device, t.channels_last)
            last = i == len(micro) - 1
            # DDP all-reduces gradients on every backward; skip that until the last
            # micro-batch, whose backward reduces the accumulated sum once.
            with self._no_sync(not last):
                with autocast(self.precision, self.device):
                    pred = self.model(batch["image"], batch["gsd"])
                # The loss leaves autocast and works in float32 on metre targets.
                loss, terms = self.loss_fn(pred, batch)
                if self.hooks.on_loss is not None:
                    loss = self.hooks.on_loss(loss, self.step)
                if not self._checked_determinism:
                    self._note_cuda_determinism(loss)
                self.scaler.scale(loss / len(micro)).backward()
            loss_sum += loss.detach()
            for name, value in terms.items():
                term_sums[name] = term_sums.get(name, 0.0) + value.detach()
        # Gradients back to their true size (fp16) before clipping and the finite check.
        self.scaler.unscale_(self.optimizer)
        max_norm = t.grad_clip if t.grad_clip else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), max_norm)
        # One host sync for the whole step's bookkeeping: the two "bad" flags (loss;
        # loss or gradient), the maximum over ranks (every rank must take the same
        # branch, or DDP would wait forever), then the flags, loss and terms together.
        loss_bad = ~torch.isfinite(loss_sum)
        flags = torch.stack([loss_bad, loss_bad | ~torch.isfinite(grad_norm)]).float()
        self.runtime.max_over_ranks(flags)
        names = list(term_sums)
        values = torch.stack(
            [flags[0], flags[1], loss_sum.float(), *(term_sums[k].float() for k in names)]
        ).tolist()
        any_loss_bad, any_bad = values[0] > 0, values[1] > 0
        ok = not any_bad
        # fp16: a finite loss with overflowing gradients is the GradScaler's business
        # while its scale is ≥ 1 (it halves the scale and tries again); only overflows it
        # cannot fix that way count towards train.max_nonfinite.
        calibrating = self.scaler.is_enabled() and self.scaler.get_scale() >= 1.0
        fatal = not (calibrating and not any_loss_bad)
        if ok:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            if self.ema is not None:
                self.ema.update(self.raw_model)
        else:
            self.scaler.update()  # fp16: lowers the loss scale after an overflow
        self.optimizer.zero_grad(set_to_none=True)
        self.guard.record(ok, self.step, fatal=fatal)
        if ok and not weights_finite(self.raw_model):
            raise JobAborted(
                f"weights became non-finite at step {self.step} although the gradients were "
                "finite; lower optim.lr"
            )
        n = len(micro)
        terms_out = {k: v / n for k, v in zip(names, values[3:], strict=True)}
        return values[2] / n, terms_out, ok

    def _no_sync(self, skip: bool) -> contextlib.AbstractContextManager[Any]:
        return no_sync(self.model, skip)

    def _note_cuda_determinism(self, loss: torch.Tensor) -> None:
        """Once, on CUDA with ``train.deterministic``: say which backward operations of
        this model have no deterministic CUDA kernel (torch only warns about them), so a
        resumed run matches an uninterrupted one within rounding, not bit for bit."""
        self._checked_determinism = True
        found = cuda_nondeterministic_backwards(loss)
        if found and self.runtime.is_main:
            print(
                "train.deterministic: on CUDA the backward of "
                f"{', '.join(sorted(found))} has no deterministic kernel; runs and resumes "
                "agree within rounding, not bit for bit (docs/training.md)",
                file=sys.stderr,
            )

    def _account(
        self, loss: float, terms: dict[str, float], ok: bool, rate: float, bar: tqdm
    ) -> None:
        if ok:
            for name, value in {**terms, "total": loss}.items():
                self.epoch_sums[name] = self.epoch_sums.get(name, 0.0) + value
            self.epoch_count += 1
            bar.update(1)
        if not self.runtime.is_main:
            return
        postfix = {"loss": f"{loss:.4g}", "lr": f"{self.lr:.2e}", "img_s": f"{rate:.1f}"}
        if self.last_score is not None:
            postfix["val"] = f"{self.last_score:.3f}"  # the latest validation score
        bar.set_postfix(postfix, refresh=False)
        if ok and self.step % max(1, self.config.train.log_every) == 0:
            self.files.tensorboard(
                {"train/loss": loss, "train/lr": self.lr, "train/images_per_s": rate}, self.step
            )
        if self.hooks.on_step is not None:
            status = StepStatus(
                self.step, self.total_steps, self.epoch, loss if ok else math.nan, self.lr,
                rate, self.guard.total, self.elapsed(),
            )  # fmt: skip
            self.hooks.on_step(status)

    def _end_of_period(self, epoch_done: bool) -> None:
        """Validate, log a metrics record, save checkpoints; start a new epoch if one ended."""
        val = self._validate()
        score = val["score"] if val is not None else None
        if score is not None and math.isfinite(score):
            self.schedule.report(score)
        self.last_score = score
        count = max(self.epoch_count, 1)
        elapsed = self.elapsed()
        images = self.epoch_count * self.config.train.batch_size * self.runtime.world_size
        images *= self.config.train.grad_accum
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "step": self.step,
            "lr": self.lr,
            "loss": {k: v / count for k, v in self.epoch_sums.items()},
            "val": val,
            "images_per_s": images / max(self._epoch_time(elapsed), 1e-9),
            "peak_mem_mb": _peak_mem_mb(self.device),
            "skipped_steps": self.guard.total,
            "time_s": elapsed,
        }
        self.history.append(record)
        self._epoch_started_at = elapsed
        if epoch_done:
            self.epoch += 1
            self.epoch_batches = 0
        self.epoch_sums, self.epoch_count = {}, 0
        if self.runtime.is_main:
            self.files.log(record)
            scalars = {f"loss/{k}": v for k, v in record["loss"].items()}
            if val is not None:
                scalars.update(
                    {
                        "val/score": val["score"],
                        "val/agl_r2": val["agl_r2"],
                        "val/vflow_r2": val["vflow_r2"],
                    }
                )
            self.files.tensorboard(scalars, self.step)
            if score is not None:
                weights = self._eval_model().state_dict()
                self.best = self.files.save_best(
                    self.best,
                    self.config.train.top_k,
                    score,
                    weights,
                    self.cfg_dict,
                    self._extra(score),
                    model=self.model_spec,
                )
        self._save_last()

    def _epoch_time(self, elapsed: float) -> float:
        return elapsed - self._epoch_started_at

    def _eval_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.raw_model

    def _validate(self) -> dict[str, Any] | None:
        if self.n_val == 0:
            return None
        sync_buffers(self.raw_model, self.runtime)
        if self.ema is not None:
            sync_buffers(self.ema.module, self.runtime)
        return evaluate(
            self._eval_model(), self._val_loader(), precision=self.precision,
            device=self.device, runtime=self.runtime,
            channels_last=self.config.train.channels_last,
        )  # fmt: skip

    def _val_loader(self) -> DataLoader[Any]:
        """Whole validation tiles, one per batch, in pinned memory on CUDA (as training)."""
        return DataLoader(
            self.val_set, batch_size=1, num_workers=min(self.config.train.workers, 2),
            collate_fn=collate_samples, generator=torch.Generator().manual_seed(0),
            pin_memory=self.device.type == "cuda",
        )  # fmt: skip

    def _extra(self, score: float | None) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "score": score}

    def _save_last(self) -> None:
        # Every rank's random state goes into the state file (a collective: all ranks).
        mine = pack_state(rng_state(self.device))
        self._rng_states = [unpack_state(b) for b in self.runtime.gather_bytes(mine)]
        if not self.runtime.is_main:
            self.runtime.barrier()
            return
        self.files.save_last(
            self.raw_model.state_dict(),
            self.cfg_dict,
            self._extra(self.last_score),
            self.state(),
            model=self.model_spec,
        )
        self.runtime.barrier()

    def elapsed(self) -> float:
        """Training time of this run so far (s), earlier sessions included."""
        return self.elapsed_before + time.monotonic() - self._start

    def _result(self, stopped: str) -> TrainResult:
        best = self.best[0][0] if self.best else None
        return TrainResult(
            self.files.root, self.step, self.epoch, stopped, self.last_score, best,
            self.guard.total, self.elapsed(), self.history, self.runtime.rank,
        )  # fmt: skip

    def close(self) -> None:
        self.files.close()
