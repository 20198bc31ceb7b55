"""safetensors checkpoints with JSON config; nothing is unpickled."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from geopose.checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from geopose.errors import DataError


def test_round_trip_with_config_and_extra(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    config = {"model": {"preset": "tiny"}, "train": {"epochs": 2}}
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, net.state_dict(), config, extra={"step": 7, "score": 0.5})
    state, cfg, extra = load_checkpoint(path)
    assert cfg == config
    assert extra == {"step": 7, "score": 0.5}
    for key, value in net.state_dict().items():
        assert torch.equal(state[key], value)
    assert read_checkpoint_metadata(path) == (config, extra)
    assert not [p for p in tmp_path.iterdir() if p.name != "ckpt.safetensors"]


def test_shared_storage_is_saved(tmp_path: Path) -> None:
    w = torch.randn(4, 4)
    save_checkpoint(tmp_path / "c.safetensors", {"a": w, "b": w}, {})
    state, _, _ = load_checkpoint(tmp_path / "c.safetensors")
    assert torch.equal(state["a"], state["b"])


def test_foreign_or_corrupt_files_are_named(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(DataError, match=r"plain\.safetensors: .*not a geopose checkpoint"):
        load_checkpoint(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match=r"junk\.safetensors: not a safetensors checkpoint"):
        load_checkpoint(junk)
    with pytest.raises(DataError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
