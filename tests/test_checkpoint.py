"""safetensors checkpoints with JSON metadata (format 2); nothing is unpickled.

The model side (building from the stored spec, format 1, edited presets) is tested in
tests/models/test_saved.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from geopose.checkpoint import (
    FORMAT_VERSION,
    Provenance,
    load_checkpoint,
    read_checkpoint_header,
    read_checkpoint_metadata,
    save_checkpoint,
)
from geopose.errors import DataError, UsageError

#: A model spec dict as the writer stores it (the low-level writer does not build it).
SPEC = {"version": 1, "name": "net", "encoder": {"name": "test_efficientnet"}}


def test_round_trip_with_config_and_extra(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    config = {"model": {"preset": "tiny"}, "train": {"epochs": 2}}
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, net.state_dict(), config, extra={"step": 7, "score": 0.5}, model=SPEC)
    state, cfg, extra = load_checkpoint(path)
    assert cfg == config
    assert extra == {"step": 7, "score": 0.5}
    for key, value in net.state_dict().items():
        assert torch.equal(state[key], value)
    assert read_checkpoint_metadata(path) == (config, extra)
    assert not [p for p in tmp_path.iterdir() if p.name != "ckpt.safetensors"]
    header = read_checkpoint_header(path)
    assert header.format_version == FORMAT_VERSION == 2
    assert header.model == SPEC
    assert header.provenance is None
    assert header.software["torch"] == torch.__version__


def test_provenance_round_trips_and_is_validated(tmp_path: Path) -> None:
    prov = Provenance(source="a.pth", sha256="0" * 64, epoch=3, metrics={"r2": 0.5})
    path = tmp_path / "p.safetensors"
    save_checkpoint(path, {"w": torch.ones(1)}, model=SPEC, provenance=prov)
    assert read_checkpoint_header(path).provenance == prov
    assert Provenance.from_dict(prov.to_dict()) == prov
    with pytest.raises(UsageError, match="sha256 must be 64"):
        Provenance(source="a.pth", sha256="xyz")
    with pytest.raises(UsageError, match="metric 'r2' must be a finite number"):
        Provenance(source="a.pth", sha256="0" * 64, metrics={"r2": float("nan")})
    with pytest.raises(UsageError, match=r"unknown field\(s\) owner"):
        Provenance.from_dict({**prov.to_dict(), "owner": "me"})


def test_writer_needs_a_model_spec_and_plain_json(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="model must be a model spec dict"):
        save_checkpoint(tmp_path / "a.safetensors", {"w": torch.ones(1)}, model={})
    with pytest.raises(UsageError, match="extra is not plain JSON"):
        save_checkpoint(
            tmp_path / "b.safetensors", {"w": torch.ones(1)}, extra={"x": float("nan")}, model=SPEC
        )


def test_shared_storage_is_saved(tmp_path: Path) -> None:
    w = torch.randn(4, 4)
    save_checkpoint(tmp_path / "c.safetensors", {"a": w, "b": w}, {}, model=SPEC)
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
