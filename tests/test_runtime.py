"""This process, read from torchrun's variables once: rank, device, precision, threads."""

from __future__ import annotations

import datetime
import os
import signal
import time

import pytest
import torch
import torch.distributed as dist

from geopose.errors import JobAborted, UsageError
from geopose.runtime import Runtime, peer_failure, pick_device, set_threads, sigterm_raises


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


# ----------------------------------------------------------------------------- CUDA set-up
# No GPU here: torch.cuda and torch.distributed are replaced by recorders, so what the
# set-up asks of them is checked; the real calls run in scripts/gpu-check.sh.
class _FakeCuda:
    """Records what the run asks of ``torch.cuda`` on a machine with ``count`` GPUs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, count: int = 4) -> None:
        self.current: list[torch.device] = []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "set_device", self.current.append)


TORCHRUN_RANK_1 = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}


def test_every_cuda_process_makes_its_gpu_current(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = _FakeCuda(monkeypatch)
    rt = Runtime.from_env("auto", "fp32", env=TORCHRUN_RANK_1)
    assert rt.device == torch.device("cuda", 1)
    # A single process given cuda:2 also makes it current (not only when world > 1).
    Runtime.from_env("cuda:2", "fp32", env={})
    assert cuda.current == [torch.device("cuda", 1), torch.device("cuda", 2)]


def test_an_explicit_gpu_under_torchrun_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeCuda(monkeypatch)
    # Every rank would take GPU 0; with a bare "cuda" each takes GPU LOCAL_RANK.
    with pytest.raises(UsageError, match="every rank on one GPU"):
        Runtime.from_env("cuda:0", "fp32", env=TORCHRUN_RANK_1)
    assert Runtime.from_env("cuda", "fp32", env=TORCHRUN_RANK_1).device.index == 1
    # One process per machine (multi-node by hand): the GPU is the user's choice.
    one_per_node = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}
    assert Runtime.from_env("cuda:3", "fp32", env=one_per_node).device.index == 3


def test_the_group_is_bound_to_the_rank_gpu_with_the_set_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cuda = _FakeCuda(monkeypatch)
    calls: list[dict] = []
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.append(kw))
    rt = Runtime(1, 2, 1, torch.device("cuda", 1), "fp32", group_timeout_s=42.0)
    assert rt.join_group()
    assert cuda.current == [torch.device("cuda", 1)]
    assert calls == [
        {
            "backend": "nccl",
            "timeout": datetime.timedelta(seconds=42.0),
            "device_id": torch.device("cuda", 1),
        }
    ]
    calls.clear()
    assert Runtime(1, 2, group_timeout_s=5.0).join_group()  # CPU: gloo, same timeout
    assert calls == [{"backend": "gloo", "timeout": datetime.timedelta(seconds=5.0)}]


def test_barriers_wait_on_the_rank_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # A barrier without device_ids uses the current device: GPU 0 on every rank unless
    # each rank made its own current, and predict's final barrier then hangs.
    barriers: list[dict] = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "barrier", lambda **kw: barriers.append(kw))
    Runtime(3, 4, 3, torch.device("cuda", 3)).barrier()
    Runtime(1, 4, 1).barrier()
    assert barriers == [{"device_ids": [3]}, {}]


def test_the_timeout_is_checked_and_taken_from_the_config() -> None:
    with pytest.raises(UsageError, match="timeout"):
        Runtime.from_env("cpu", env={}, group_timeout_s=0)
    assert Runtime.from_env("cpu", env={}, group_timeout_s=9).group_timeout_s == 9


def test_gather_bytes_without_a_group_is_this_process_only() -> None:
    assert Runtime().gather_bytes(b"abc") == [b"abc"]


def test_peak_rss_is_the_childs_own_not_its_parents() -> None:
    """A child forked from a process that once held 1.5 GB reports its own small peak
    (``getrusage`` would report the parent's), and a child that allocates sees it."""
    import subprocess
    import sys

    import numpy as np

    held = np.ones(1536 * 2**20 // 8)  # 1.5 GiB resident in this process
    held[::512] += 1.0
    child = (
        "import sys, numpy as np\n"
        "from geopose.runtime import peak_rss_mib\n"
        "before = peak_rss_mib()\n"
        "a = np.ones(int(sys.argv[1]) * 2**20 // 8)\n"
        "print(before, peak_rss_mib())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child, "300"], capture_output=True, text=True, check=True
    ).stdout
    before, after = map(float, out.split())
    assert before < 1000, "the child inherited its parent's peak"
    assert after - before > 250
    del held


def test_sigterm_raises_job_aborted_in_the_block_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def stopped_by_sigterm() -> None:
        with sigterm_raises("run: stopped"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler interrupts this

    with pytest.raises(JobAborted, match=r"^run: stopped$"):
        stopped_by_sigterm()
    # Outside a process group the previous handler comes back, after a failure too.
    assert signal.getsignal(signal.SIGTERM) is before
    with sigterm_raises("unused"):
        pass
    assert signal.getsignal(signal.SIGTERM) is before


def test_peer_failure_knows_a_lost_peer_from_other_errors() -> None:
    lost = "[gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:32922"
    assert peer_failure(RuntimeError(lost))
    assert peer_failure(dist.DistBackendError("NCCL communicator was aborted"))
    assert not peer_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not peer_failure(ValueError(lost))
