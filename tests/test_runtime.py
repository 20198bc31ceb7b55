"""This process, read from torchrun's variables once: rank, device, precision, threads."""

from __future__ import annotations

import pytest
import torch

from geopose.errors import UsageError
from geopose.runtime import Runtime, pick_device, set_threads


def test_from_env_reads_torchrun_variables() -> None:
    rt = Runtime.from_env("cpu", "fp32", env={"WORLD_SIZE": "4", "RANK": "5", "LOCAL_RANK": "1"})
    assert (rt.rank, rt.world_size, rt.local_rank) == (5, 4, 1)
    assert rt.distributed
    assert not rt.is_main


def test_without_torchrun_it_is_one_main_process() -> None:
    rt = Runtime.from_env("cpu", env={})
    assert rt == Runtime(0, 1, 0, torch.device("cpu"), "fp32")
    assert rt.is_main
    assert not rt.distributed


def test_local_rank_defaults_to_the_rank() -> None:
    # Ranks set by hand on one machine then pick distinct GPUs (train and predict once
    # defaulted differently: 0 and RANK).
    assert Runtime.from_env("cpu", env={"WORLD_SIZE": "3", "RANK": "2"}).local_rank == 2


def test_precision_auto_is_fp32_on_the_cpu_and_bad_values_are_usage_errors() -> None:
    assert Runtime.from_env("cpu", "auto", env={}).precision == "fp32"
    assert Runtime.from_env("cpu", "bf16", env={}).precision == "bf16"
    with pytest.raises(UsageError, match="fp64"):
        Runtime.from_env("cpu", "fp64", env={})
    with pytest.raises(UsageError, match="integers"):
        Runtime.from_env("cpu", env={"RANK": "one"})


def test_devices() -> None:
    assert pick_device(0, "cpu") == torch.device("cpu")
    assert pick_device(3, None) == pick_device(3, "auto")
    if not torch.cuda.is_available():
        assert pick_device(3, "auto") == torch.device("cpu")
        with pytest.raises(UsageError, match="CUDA is not available"):
            pick_device(0, "cuda")
    with pytest.raises(UsageError, match="gpu0"):
        pick_device(0, "gpu0")


def test_threads_are_set_once_and_checked() -> None:
    before = torch.get_num_threads()
    try:
        Runtime.from_env("cpu", threads=2, env={})
        assert torch.get_num_threads() == 2
        set_threads(None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(UsageError, match="--threads"):
        set_threads(0)


def test_collectives_without_a_process_group_are_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    rt = Runtime(1, 2)  # made by hand: no launcher, no process group to talk to
    assert rt.join_group() is False
    rt.barrier()
    assert rt.any_true(True)
    assert not rt.any_true(False)
