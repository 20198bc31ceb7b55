"""The training loop's CUDA and multi-GPU paths, checked on a CPU: host syncs per step,
``no_sync`` through ``torch.compile``, pinned validation batches, the determinism note."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import geopose
from geopose.config import Config
from geopose.data.collate import collate_samples
from geopose.training.determinism import cuda_nondeterministic_backwards
from geopose.training.trainer import Trainer, TrainHooks, no_sync

SRC = str(Path(geopose.__file__).resolve().parent)
#: Tensor methods that copy a value to the host (on CUDA: wait for the GPU).
HOST_READS = ("item", "tolist", "__float__", "__bool__", "__int__")


@contextlib.contextmanager
def count_host_reads(counter: list[str]) -> Iterator[None]:
    """Record every host read of a tensor made by geopose's own code (torch's internals,
    e.g. the optimizer reading its CPU step counters, are not ours to count)."""
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def wrap(name: str) -> Callable[..., object]:
        def read(self: torch.Tensor, *args: object) -> object:
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(SRC):
                counter.append(f"{name} at {Path(caller).name}:{sys._getframe(1).f_lineno}")
            return originals[name](self, *args)

        return read

    try:
        for name in HOST_READS:
            setattr(torch.Tensor, name, wrap(name))
        yield
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


@pytest.fixture
def trainer(tiny_config: Callable[..., Config], tmp_path: Path) -> Iterator[Trainer]:
    t = Trainer(tiny_config("train.max_steps=4"), tmp_path / "run", TrainHooks(), False)
    yield t
    t.close()


def _micro(trainer: Trainer) -> list:
    loader = trainer._train_loader()
    return [next(iter(loader))]


def test_an_optimizer_step_reads_the_device_twice(trainer: Trainer) -> None:
    # Once for the step's flags, loss and terms together; once for the weights check.
    # (Old code: every term, the loss, and each finite check separately: 8 here.)
    micro = _micro(trainer)
    reads: list[str] = []
    with count_host_reads(reads):
        loss, terms, ok = trainer.optimizer_step(micro)
    assert ok
    assert len(terms) >= 3
    assert len(reads) <= 2, reads
    assert all(isinstance(v, float) for v in [loss, *terms.values()])


def test_a_skipped_step_is_still_found_with_the_fused_check(trainer: Trainer) -> None:
    trainer.hooks.on_loss = lambda loss, step: loss * float("nan")
    before = [p.detach().clone() for p in trainer.raw_model.parameters()]
    loss, _, ok = trainer.optimizer_step(_micro(trainer))
    assert not ok
    assert loss != loss  # NaN
    assert trainer.guard.total == 1
    for a, b in zip(before, trainer.raw_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_validation_batches_are_pinned_on_cuda(trainer: Trainer) -> None:
    assert not trainer._val_loader().pin_memory
    trainer.device = torch.device("cuda", 0)  # what the loader is built for; nothing runs
    assert trainer._val_loader().pin_memory
    assert trainer._val_loader().collate_fn is collate_samples


def test_the_deterministic_cuda_note_names_the_bilinear_backward(
    trainer: Trainer, capsys: pytest.CaptureFixture[str]
) -> None:
    # On CUDA with train.deterministic the first step says what cannot be reproduced.
    trainer._checked_determinism = False
    trainer.optimizer_step(_micro(trainer))
    note = capsys.readouterr().err
    assert "UpsampleBilinear2D" in note
    assert "not bit for bit" in note
    assert trainer._checked_determinism


def test_the_graph_walk_finds_only_backwards_without_a_deterministic_cuda_kernel() -> None:
    x = torch.rand(1, 2, 4, 4, requires_grad=True)
    smooth = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear")
    assert cuda_nondeterministic_backwards(smooth.sum()) == {"UpsampleBilinear2D"}
    nearest = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
    assert cuda_nondeterministic_backwards((nearest * 2).mean()) == set()
    padded = torch.nn.functional.pad(smooth, (1, 1, 1, 1), mode="reflect")
    assert cuda_nondeterministic_backwards(padded.sum()) == {
        "UpsampleBilinear2D",
        "ReflectionPad2D",
    }


@pytest.fixture
def one_process_group(tmp_path: Path) -> Iterator[None]:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)  # fmt: skip
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_compiled_ddp_skips_the_all_reduce_of_accumulated_micro_batches(
    one_process_group: None,
) -> None:
    ddp = DistributedDataParallel(torch.nn.Linear(2, 2))
    compiled = torch.compile(ddp)  # an OptimizedModule, not a DistributedDataParallel
    assert not isinstance(compiled, DistributedDataParallel)
    for model in (ddp, compiled):
        with no_sync(model, skip=True):
            assert not ddp.require_backward_grad_sync  # inside DDP's own no_sync()
        assert ddp.require_backward_grad_sync
        with no_sync(model, skip=False):
            assert ddp.require_backward_grad_sync
