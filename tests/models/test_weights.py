"""Local weight files: safetensors or torch state dicts, always loaded strictly."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from geopose.errors import DataError
from geopose.models import GeoposeModel, create_model


def _outputs(model: GeoposeModel) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        return model.eval()(torch.rand(1, 3, 64, 64, generator=gen), torch.tensor([0.3]))


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_whole_model_weights_round_trip(tiny: GeoposeModel, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tiny{suffix}"
    state = {k: v.contiguous() for k, v in tiny.state_dict().items()}
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    torch.manual_seed(123)  # a different random init, overwritten by the file
    loaded = create_model("tiny", weights=path)
    _assert_same(_outputs(tiny), _outputs(loaded))


def test_missing_and_unexpected_keys_are_named(tiny: GeoposeModel, tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in tiny.state_dict().items()}
    state.pop("heads.dense.height.convs.0.weight")
    state["heads.extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(DataError) as err:
        create_model("tiny", weights=path)
    message = str(err.value)
    assert "bad.safetensors" in message
    assert "missing keys: heads.dense.height.convs.0.weight" in message
    assert "unexpected keys: heads.extra.weight" in message


def test_shape_mismatch_is_named(tiny: GeoposeModel, tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in tiny.state_dict().items()}
    state["heads.orientation.mlp.1.bias"] = torch.zeros(5)
    path = tmp_path / "shape.safetensors"
    save_file(state, str(path))
    with pytest.raises(DataError, match=r"heads\.orientation\.mlp\.1\.bias \(5,\)"):
        create_model("tiny", weights=path)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": object()}, path)
    with pytest.raises(DataError, match=r"evil\.pt"):
        create_model("tiny", weights=path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothing\.safetensors: weights file not found"):
        create_model("tiny", weights=tmp_path / "nothing.safetensors")


def test_local_encoder_weights_from_a_full_timm_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(5)
    full = timm.create_model("test_efficientnet", pretrained=False)
    path = tmp_path / "test_efficientnet.safetensors"
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(path))
    model = create_model("tiny", pretrained=path)
    ours = model.encoder.net.state_dict()
    assert torch.equal(ours["conv_stem.weight"], full.state_dict()["conv_stem.weight"])
    for key in ours:
        assert torch.equal(ours[key], full.state_dict()[key]), key


def test_local_encoder_weights_with_foreign_key_fail(tmp_path: Path) -> None:
    full = timm.create_model("test_efficientnet", pretrained=False)
    state = {k: v.contiguous() for k, v in full.state_dict().items()}
    state["blocks.9.weight"] = torch.zeros(1)
    path = tmp_path / "enc.safetensors"
    save_file(state, str(path))
    with pytest.raises(DataError, match=r"unexpected keys: blocks\.9\.weight"):
        create_model("tiny", pretrained=path)
