"""Published checkpoints in their authors' formats are recognised and their keys checked.

The files are generated here from the shipped manifests: the authors' tensor names,
shapes and order, their pickle structure (Catalyst dicts with numpy-scalar metrics, the
1st place's DDP ``module.`` prefixes, the baseline's plain state dict) and random
values. To keep them small (the real ones are 100-480 MB), every tensor is one random
number expanded to its full shape: ``torch.save`` stores the one-element storage with
zero strides, and the reader sees the full shape. The mapping logic does not depend on
the values beyond their being distinct per tensor, which this keeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from geopose.errors import DataError
from geopose.models import create_model
from geopose.models.published import NETWORKS, identify, read_manifest_resource
from geopose.models.safe_pickle import read_torch_pickle


def _state(network: str, seed: int = 0) -> dict[str, torch.Tensor]:
    manifest = read_manifest_resource(NETWORKS[network].manifest)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape, dtype in manifest["state_dict"]:
        if dtype == "int64":
            state[name] = torch.randint(0, 1000, (1,), generator=gen).reshape(()).expand(shape)
        else:
            state[name] = torch.randn((1,), generator=gen).reshape(()).expand(shape)
    return state


def _metrics() -> dict[str, Any]:
    return {"loss": np.float32(0.5), "metrics/mean_r2": np.float64(0.87)}


def second_place(network: str, train: bool = False) -> dict[str, Any]:
    manifest = read_manifest_resource(NETWORKS[network].manifest)
    ckpt: dict[str, Any] = {
        "model_state_dict": _state(network),
        "epoch_metrics": {"train": _metrics(), "valid": _metrics()},
        "valid_metrics": _metrics(),
        "stage_name": "train",
        "epoch": 77,
        "checkpoint_data": {"config": {"model": manifest["config"], "train": {"downsample": 1}}},
    }
    if train:
        ckpt.update(loader_name="valid", global_epoch=77, main_metric="metrics/mean_r2")
    return ckpt


def first_place() -> dict[str, Any]:
    state = {f"module.{k}": v for k, v in _state("timm_unet_v2l").items()}
    return {"epoch": 31, "state_dict": state, "metrics": {"r2": np.float64(0.91)}}


def _save(tmp_path: Path, name: str, obj: Any) -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    ("name", "make", "fmt", "network", "epoch"),
    [
        ("b7_best.pth", lambda: second_place("b7_unet"), "2nd-place-best", "b7_unet", 77),
        (
            "b6_train.77.pth",
            lambda: second_place("b6_rdtsc_unet", train=True),
            "2nd-place-train",
            "b6_rdtsc_unet",
            77,
        ),
        ("folds_v2l_r2", first_place, "1st-place", "timm_unet_v2l", 31),
        (
            "baseline.pth",
            lambda: _state("baseline_unet_vflow"),
            "baseline",
            "baseline_unet_vflow",
            None,
        ),
    ],
)
def test_formats_are_recognised(
    tmp_path: Path, name: str, make: Any, fmt: str, network: str, epoch: int | None
) -> None:
    path = _save(tmp_path, name, make())
    found = identify(read_torch_pickle(path), path)
    assert found.format == fmt
    assert found.network.name == network
    assert found.epoch == epoch
    manifest = read_manifest_resource(found.network.manifest)
    assert list(found.state) == [e[0] for e in manifest["state_dict"]]
    if fmt.startswith("2nd"):
        assert found.metrics["metrics/mean_r2"] == pytest.approx(0.87)
        assert isinstance(found.metrics["loss"], float)
    if fmt == "1st-place":
        assert found.metrics == {"r2": pytest.approx(0.91)}


def test_conventions_of_the_published_networks() -> None:
    assert NETWORKS["b7_unet"].convention["channel_order"] == "BGR"
    assert NETWORKS["b6_rdtsc_unet"].convention["channel_order"] == "BGR"
    baseline = NETWORKS["baseline_unet_vflow"]
    assert baseline.convention["resolution_factor"] == 0.5
    assert baseline.raw_dense
    # The 1st place: (image / 255 - 0.5) * 2 on RGB, raw heads, the v2l-timm-unet preset.
    first = NETWORKS["timm_unet_v2l"]
    assert first.convention["channel_order"] == "RGB"
    assert first.convention["mean"] == first.convention["std"] == [0.5, 0.5, 0.5]
    assert first.preset == "v2l-timm-unet"
    assert first.raw_dense


def test_unexpected_and_missing_keys_are_named(tmp_path: Path) -> None:
    ckpt = second_place("b7_unet")
    state = ckpt["model_state_dict"]
    state["decoder.extra.weight"] = torch.zeros(3)
    dropped = next(iter(state))
    del state[dropped]
    path = _save(tmp_path, "b7_best.pth", ckpt)
    with pytest.raises(DataError) as info:
        identify(read_torch_pickle(path), path)
    message = str(info.value)
    assert "unexpected keys: decoder.extra.weight" in message
    assert f"missing keys: {dropped}" in message
    assert str(path) in message


def test_shape_mismatch_is_named(tmp_path: Path) -> None:
    state = _state("baseline_unet_vflow")
    state["mag_head.0.bias"] = torch.zeros(2)
    path = _save(tmp_path, "baseline.pth", state)
    with pytest.raises(DataError, match=r"shape mismatch: mag_head\.0\.bias \(2,\)"):
        identify(read_torch_pickle(path), path)


def test_arch_override_must_fit_the_file(tmp_path: Path) -> None:
    path = _save(tmp_path, "b7_best.pth", second_place("b7_unet"))
    obj = read_torch_pickle(path)
    with pytest.raises(DataError, match="not b6_rdtsc_unet"):
        identify(obj, path, arch="b6_rdtsc_unet")
    with pytest.raises(DataError, match="not supported"):
        identify(obj, path, arch="b9_unet")
    base = _save(tmp_path, "baseline.pth", _state("baseline_unet_vflow"))
    with pytest.raises(DataError, match="does not apply"):
        identify(read_torch_pickle(base), base, arch="b7_unet")


@pytest.mark.parametrize(
    "obj",
    [
        {"weights": [1, 2, 3]},
        [torch.zeros(2)],
        {"a.weight": torch.zeros(2)},
        {"model_state_dict": {"w": torch.zeros(1)}, "checkpoint_data": {}},
    ],
    ids=["unknown-dict", "list", "other-state-dict", "no-config"],
)
def test_other_files_get_one_line_errors(tmp_path: Path, obj: Any) -> None:
    path = _save(tmp_path, "x.pth", obj)
    with pytest.raises(DataError) as info:
        identify(read_torch_pickle(path), path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert "expected" in message or "slug" in message


def test_r34_unet_heads_are_raw_like_the_baseline() -> None:
    # The baseline's AGL and magnitude heads are plain convolutions: negative values pass.
    model = create_model("r34-unet").eval()
    dense = model.heads["dense"]
    with torch.no_grad():
        for name, param in dense.named_parameters():
            if name.endswith("bias"):
                param.fill_(-5.0)
        out = model(torch.rand(1, 3, 64, 64), torch.ones(1))
    assert (out["agl"] < 0).all()
    assert (out["mag"] < 0).all()
