"""The per-epoch data order: fixed by (seed, epoch), split across ranks, resumable."""

from __future__ import annotations

import numpy as np

from geopose.data.sampler import EpochSampler, epoch_permutation, steps_per_epoch


def test_ranks_share_an_epoch_without_overlap() -> None:
    n, batch, world = 23, 2, 3
    samplers = [
        EpochSampler(n, batch_size=batch, seed=4, epoch=1, rank=r, world_size=world)
        for r in range(world)
    ]
    parts = [list(s) for s in samplers]
    steps = steps_per_epoch(n, batch, world, 1)
    assert steps == 23 // 6
    assert all(len(p) == steps * batch for p in parts)
    flat = [i for p in parts for i in p]
    assert len(set(flat)) == len(flat)
    used = epoch_permutation(n, 4, 1)[: steps * batch * world]
    assert sorted(flat) == sorted(used.tolist())


def test_order_depends_on_seed_and_epoch_only() -> None:
    a = list(EpochSampler(20, batch_size=4, seed=1, epoch=0))
    assert a == list(EpochSampler(20, batch_size=4, seed=1, epoch=0))
    assert a != list(EpochSampler(20, batch_size=4, seed=1, epoch=1))
    assert a != list(EpochSampler(20, batch_size=4, seed=2, epoch=0))
    assert sorted(a) == list(range(20))
    assert np.array_equal(epoch_permutation(20, 1, 0), a)


def test_resume_inside_an_epoch_skips_whole_batches() -> None:
    full = list(EpochSampler(20, batch_size=3, grad_accum=2, seed=7, epoch=2))
    rest = EpochSampler(20, batch_size=3, grad_accum=2, seed=7, epoch=2, start_batch=4)
    assert len(full) == 18  # 3 steps of 2 micro-batches of 3
    assert list(rest) == full[12:]
    assert len(rest) == 6
