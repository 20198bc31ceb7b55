"""Saved models (models/saved.py): format 2 rebuilds the model from its own spec, never
from the preset registry; format 1 still loads; loading is strict and never unpickles."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from geopose.checkpoint import Provenance, read_checkpoint_header
from geopose.config import Config, config_to_dict
from geopose.errors import DataError, UsageError
from geopose.models import (
    OUTPUT_KEYS,
    GeoposeModel,
    InputConvention,
    ModelSpec,
    create_model,
    get_preset,
    list_presets,
    load_model,
    read_model_spec,
    read_provenance,
    save_model,
)
from geopose.models import registry as registry_module

IMAGE = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(5))
GSD = torch.tensor([0.3, 0.5])


def _outputs(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model.eval()(IMAGE, GSD)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in OUTPUT_KEYS)


def _seeded(spec: ModelSpec | str = "tiny", seed: int = 0) -> GeoposeModel:
    torch.manual_seed(seed)
    model = create_model(spec)
    with torch.no_grad():  # random BatchNorm statistics, so buffers take part too
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def write_format1(path: Path, state: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
    """A checkpoint byte for byte as format 1 (geopose before format 2) wrote it.

    Spelled out here on purpose, not through the current writer: safetensors tensors and
    three metadata strings — the format version "1", the run config and the extra
    facts as JSON with sorted keys.
    """
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    metadata = {
        "geopose.format_version": "1",
        "geopose.config": json.dumps(config, sort_keys=True),
        "geopose.extra": json.dumps({"step": 12, "epoch": 0, "score": 0.25}, sort_keys=True),
    }
    save_file(tensors, str(path), metadata=metadata)


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata())


def _rewrite(path: Path, out: Path, **changes: str | None) -> Path:
    """Copy checkpoint ``path`` to ``out`` with metadata entries changed (None: removed)."""
    meta = _metadata(path)
    for key, value in changes.items():
        name = "geopose." + key
        if value is None:
            meta.pop(name, None)
        else:
            meta[name] = value
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    save_file(tensors, str(out), metadata=meta)
    return out


@pytest.fixture
def saved(tmp_path: Path) -> tuple[GeoposeModel, Path]:
    """A seeded tiny model and its format-2 checkpoint (saved as the trainer saves)."""
    model = _seeded("tiny")
    path = tmp_path / "tiny.safetensors"
    save_model(path, model, config=config_to_dict(Config()), extra={"step": 3})
    return model, path


def test_format2_metadata_describes_the_model_completely(saved: tuple[GeoposeModel, Path]) -> None:
    model, path = saved
    meta = _metadata(path)
    assert meta["geopose.format_version"] == "2"
    spec = json.loads(meta["geopose.model"])
    assert spec == model.spec.to_dict()
    assert spec["input"]["mean"] == [0.485, 0.456, 0.406]  # resolved, not "the encoder's"
    assert spec["decoder"]["activation"] == "relu"
    assert [h["kind"] for h in spec["heads"]] == ["dense", "scale", "orientation"]
    assert json.loads(meta["geopose.config"])["model"]["preset"] == "tiny"
    assert json.loads(meta["geopose.extra"]) == {"step": 3}
    assert set(json.loads(meta["geopose.software"])) >= {"geopose", "torch", "timm"}
    assert "geopose.provenance" not in meta


# Edits of the "tiny" preset made after its checkpoint was saved. Each changes what
# the preset builds; the first three keep every tensor's shape, so strict loading alone
# would not notice them.
EDITS = {
    "decoder activation": lambda s: dataclasses.replace(
        s, decoder=dataclasses.replace(s.decoder, activation="silu")
    ),
    "decoder align_corners": lambda s: dataclasses.replace(
        s, decoder=dataclasses.replace(s.decoder, align_corners=True)
    ),
    "dense output activation": lambda s: dataclasses.replace(
        s,
        heads=tuple(
            dataclasses.replace(h, output_activation="softplus") if h.kind == "dense" else h
            for h in s.heads
        ),
    ),
    "decoder channels": lambda s: dataclasses.replace(
        s, decoder=dataclasses.replace(s.decoder, channels=(40, 32, 24, 16))
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_editing_a_preset_does_not_change_what_a_checkpoint_loads_into(
    edit: str, saved: tuple[GeoposeModel, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, path = saved
    before = _outputs(model)
    old_format = tmp_path / "tiny-format1.safetensors"
    write_format1(old_format, model.state_dict(), config_to_dict(Config()))
    assert _same(_outputs(load_model(old_format)), before)  # same preset: same model

    list_presets()  # the built-in presets are registered
    edited = EDITS[edit](get_preset("tiny"))
    monkeypatch.setitem(registry_module._PRESETS, "tiny", edited)
    assert get_preset("tiny") == edited

    loaded = load_model(path)
    assert loaded.spec == model.spec
    assert _same(_outputs(loaded), before)
    # The edit is real: format 1, which can only name its preset, now loads into the
    # edited network (or fails to load into it).
    if edit == "decoder channels":
        with pytest.raises(DataError, match="shape mismatch"):
            load_model(old_format)
    else:
        assert not _same(_outputs(load_model(old_format)), before)


def test_format1_run_checkpoint_loads_through_its_preset(tmp_path: Path) -> None:
    model = _seeded("tiny-lean", seed=2)
    config = config_to_dict(Config())
    config["model"]["preset"] = "tiny-lean"
    path = tmp_path / "old.safetensors"
    write_format1(path, model.state_dict(), config)
    header = read_checkpoint_header(path)
    assert header.format_version == 1
    assert header.model is None
    assert header.extra == {"step": 12, "epoch": 0, "score": 0.25}
    assert read_model_spec(path) == get_preset("tiny-lean")
    loaded = load_model(path)
    assert loaded.spec == model.spec
    assert _same(_outputs(loaded), _outputs(model))


def test_format1_checkpoint_with_a_spec_dict_loads(tmp_path: Path) -> None:
    data = get_preset("tiny").to_dict()
    del data["input"], data["version"]  # as format-1 writers stored a model config
    data["decoder"] = {"kind": "fpn", "channels": 24}
    model = _seeded(ModelSpec.from_dict(data), seed=3)
    path = tmp_path / "old_fpn.safetensors"
    write_format1(path, model.state_dict(), {"model": data})
    assert _same(_outputs(load_model(path)), _outputs(model))


def test_an_imported_convention_and_provenance_round_trip(tmp_path: Path) -> None:
    convention = InputConvention(
        channel_order="BGR",
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        resolution_factor=0.5,
    )
    spec = dataclasses.replace(get_preset("tiny"), name="imported", input=convention)
    model = _seeded(spec, seed=4)
    provenance = Provenance(
        source="210709_07_54_b7_unet_fold0_best.pth",
        sha256="ab" * 32,
        origin="2nd place, Catalyst checkpoint",
        epoch=41,
        metrics={"valid/score": 0.8812, "loss": None},
    )
    path = tmp_path / "imported.safetensors"
    save_model(path, model, provenance=provenance)
    assert read_provenance(path) == provenance
    loaded = load_model(path)
    assert loaded.spec.input == convention
    assert loaded.input_multiple == 64
    assert _same(_outputs(loaded), _outputs(model))
    plain = _seeded(dataclasses.replace(spec, input=InputConvention()), seed=4)
    plain.load_state_dict(model.state_dict(), strict=True)
    assert not _same(_outputs(plain), _outputs(loaded))  # the convention travelled


def test_save_model_checks_a_given_state_dict(tmp_path: Path) -> None:
    model = _seeded("tiny")
    state = dict(model.state_dict())
    state.pop(next(iter(state)))
    with pytest.raises(UsageError, match="missing keys: encoder"):
        save_model(tmp_path / "x.safetensors", model, state_dict=state)


def test_loading_is_strict_and_names_the_keys(
    saved: tuple[GeoposeModel, Path], tmp_path: Path
) -> None:
    model, path = saved
    meta = _metadata(path)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    extra = tmp_path / "extra.safetensors"
    save_file({**state, "head.extra.weight": torch.zeros(2)}, str(extra), metadata=meta)
    with pytest.raises(
        DataError, match=r"extra\.safetensors: unexpected keys: head\.extra\.weight"
    ):
        load_model(extra)
    missing = tmp_path / "missing.safetensors"
    key = next(k for k in state if k.startswith("heads.orientation"))
    save_file({k: v for k, v in state.items() if k != key}, str(missing), metadata=meta)
    with pytest.raises(DataError, match=rf"missing\.safetensors: missing keys: {key}"):
        load_model(missing)


def test_loading_never_unpickles(
    saved: tuple[GeoposeModel, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, path = saved
    old_format = tmp_path / "old.safetensors"
    write_format1(old_format, model.state_dict(), config_to_dict(Config()))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something was unpickled")

    for target, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(target, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert _same(_outputs(load_model(path)), _outputs(model))
    assert _same(_outputs(load_model(old_format)), _outputs(model))


def _spec_json(path: Path) -> dict[str, Any]:
    return json.loads(_metadata(path)["geopose.model"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(version=99), r"'geopose.model': model spec: version 99 is unknown"),
        (lambda s: s.update(colour="red"), r"model spec has unknown field\(s\) colour"),
        (lambda s: s["input"].update(order="BGR"), r"input has unknown field\(s\) order"),
        (lambda s: s["input"].update(mean=None, std=None), "input mean/std are not given"),
        (lambda s: s["heads"][0].update(kind="segmentation"), "unknown kind 'segmentation'"),
    ],
)
def test_bad_model_metadata_is_named_with_the_file(
    saved: tuple[GeoposeModel, Path], tmp_path: Path, change: Any, message: str
) -> None:
    _, path = saved
    spec = _spec_json(path)
    change(spec)
    bad = _rewrite(path, tmp_path / "bad.safetensors", model=json.dumps(spec))
    with pytest.raises(DataError, match=r"bad\.safetensors: .*" + message) as err:
        load_model(bad)
    assert "\n" not in str(err.value)


def test_bad_file_level_metadata_is_named_with_the_file(
    saved: tuple[GeoposeModel, Path], tmp_path: Path
) -> None:
    _, path = saved
    cases = [
        ({"format_version": "3"}, "format 3 is newer"),
        ({"format_version": "0"}, "format 0 is unknown"),
        ({"model": None}, "format-2 checkpoint without 'geopose.model'"),
        ({"colour": "{}"}, r"unknown metadata key\(s\) for format 2: geopose.colour"),
        ({"provenance": json.dumps({"source": "x.pth"})}, "provenance: missing field"),
        ({"model": "{not json"}, "'geopose.model' is not valid JSON"),
    ]
    for i, (changes, message) in enumerate(cases):
        bad = _rewrite(path, tmp_path / f"bad{i}.safetensors", **changes)
        with pytest.raises(DataError, match=rf"bad{i}\.safetensors: .*{message}"):
            load_model(bad)
