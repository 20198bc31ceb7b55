"""Training state round trips exactly without pickle."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from geopose.errors import DataError
from geopose.training.state import load_state, rng_state, save_state, set_rng_state


def _train_a_bit(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(4, 3, generator=gen)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_optimizer_state_resumes_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
    _train_a_bit(model, opt, 3)
    save_state(tmp_path / "s.safetensors", {"optimizer": opt.state_dict(), "step": 3})

    clone = torch.nn.Linear(3, 2)
    clone.load_state_dict(model.state_dict())
    opt2 = torch.optim.AdamW(clone.parameters(), lr=5.0)
    state = load_state(tmp_path / "s.safetensors")
    opt2.load_state_dict(state["optimizer"])
    assert state["step"] == 3
    assert opt2.param_groups[0]["betas"] == (0.8, 0.95)

    _train_a_bit(model, opt, 2)
    _train_a_bit(clone, opt2, 2)
    for a, b in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(a, b)


def test_rng_state_round_trip(tmp_path: Path) -> None:
    # The legacy global NumPy generator is what the state must capture here.
    random.seed(3)
    np.random.seed(4)  # noqa: NPY002
    torch.manual_seed(5)
    random.random()
    np.random.standard_normal()  # noqa: NPY002
    save_state(tmp_path / "rng.safetensors", {"rng": rng_state()})
    expected = (random.random(), np.random.standard_normal(), torch.rand(3))  # noqa: NPY002
    random.seed(99)
    np.random.seed(99)  # noqa: NPY002
    torch.manual_seed(99)
    set_rng_state(load_state(tmp_path / "rng.safetensors")["rng"])
    got = (random.random(), np.random.standard_normal(), torch.rand(3))  # noqa: NPY002
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert torch.equal(got[2], expected[2])


def test_unsupported_values_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot save a set"):
        save_state(tmp_path / "x.safetensors", {"bad": {1, 2}})
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(DataError, match=r"junk\.safetensors: corrupt training state"):
        load_state(junk)


class _FakeCudaGenerators:
    """``count`` visible GPUs whose generator states are recorded (no GPU needed); as
    torch's own, a generator index beyond the visible GPUs raises IndexError."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
        self.count = count
        self.restored: list[tuple[torch.Tensor, int]] = []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_rng_state", self.get)
        monkeypatch.setattr(
            torch.cuda, "get_rng_state_all", lambda: [self.get(i) for i in range(count)]
        )
        monkeypatch.setattr(torch.cuda, "set_rng_state", self.set)
        monkeypatch.setattr(
            torch.cuda,
            "set_rng_state_all",
            lambda states: [self.set(s, i) for i, s in enumerate(states)],
        )

    @staticmethod
    def _index(device: torch.device | int | str = "cuda") -> int:
        return (
            torch.device("cuda", device).index
            if isinstance(device, int)
            else torch.device(device).index or 0
        )

    def get(self, device: torch.device | int | str = "cuda") -> torch.Tensor:
        index = self._index(device)
        if index >= self.count:
            raise IndexError("tuple index out of range")
        return torch.full((16,), index, dtype=torch.uint8)

    def set(self, state: torch.Tensor, device: torch.device | int | str = "cuda") -> None:
        index = self._index(device)
        if index >= self.count:
            raise IndexError("tuple index out of range")
        self.restored.append((state.clone(), index))


def test_cuda_random_state_is_the_run_gpu_and_resumes_with_fewer_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Saved by the rank on GPU 3 of a 4-GPU machine ...
    gpus = _FakeCudaGenerators(monkeypatch, count=4)
    save_state(tmp_path / "rng.safetensors", {"rng": rng_state(torch.device("cuda", 3))})
    state = load_state(tmp_path / "rng.safetensors")["rng"]
    assert torch.equal(state["cuda"], torch.full((16,), 3, dtype=torch.uint8))
    # ... resumed on a machine that shows one GPU: GPU 3's generator goes to cuda:0.
    one = _FakeCudaGenerators(monkeypatch, count=1)
    set_rng_state(state, torch.device("cuda", 0))
    assert [(int(s[0]), i) for s, i in one.restored] == [(3, 0)]
    assert gpus.restored == []
    # A CPU run has no CUDA generator to save or restore.
    assert "cuda" not in rng_state(torch.device("cpu"))
    set_rng_state(state, torch.device("cpu"))
    assert len(one.restored) == 1


def test_old_state_files_with_every_gpu_resume_with_fewer_gpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gpus = _FakeCudaGenerators(monkeypatch, count=1)
    old = rng_state()
    old["cuda"] = [torch.full((16,), i, dtype=torch.uint8) for i in range(4)]  # 4 GPUs saved
    set_rng_state(old, torch.device("cuda", 0))  # one visible now: no IndexError
    assert [(int(s[0]), i) for s, i in gpus.restored] == [(0, 0)]
