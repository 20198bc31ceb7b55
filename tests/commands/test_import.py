"""``geopose import``: published files in their formats become format-2 geopose models."""

from __future__ import annotations

import json
import os
import pathlib
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.models.test_published import _state, first_place, second_place

from geopose.cli import main
from geopose.models import load_model, read_model_spec, read_provenance


class _Touch:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> Any:
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def test_import_baseline_carries_convention_and_provenance(tmp_path: Path, capsys: Any) -> None:
    src = tmp_path / "weights_baseline.pth"
    torch.save({k: v.contiguous() for k, v in _state("baseline_unet_vflow").items()}, src)
    out = tmp_path / "r34.safetensors"
    report = tmp_path / "found.json"
    assert main(["import", str(src), "--out", str(out), "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "baseline" in printed
    assert "resolution factor 0.5" in printed
    spec = read_model_spec(out)
    assert spec.input.resolution_factor == 0.5
    assert spec.input.channel_order == "RGB"
    provenance = read_provenance(out)
    assert provenance is not None
    assert provenance.source == src.name
    assert len(provenance.sha256) == 64
    model = load_model(out)
    theirs = torch.load(src, weights_only=True)
    assert torch.equal(
        model.state_dict()["heads.dense.magnitude.convs.0.bias"], theirs["mag_head.0.bias"]
    )
    assert json.loads(report.read_text())["format"] == "baseline"


def test_import_second_place_best_is_bgr_with_metrics(tmp_path: Path) -> None:
    ckpt = second_place("b6_rdtsc_unet")
    ckpt["model_state_dict"] = {k: v.contiguous() for k, v in ckpt["model_state_dict"].items()}
    src = tmp_path / "b6_best.pth"
    torch.save(ckpt, src)
    out = tmp_path / "b6.safetensors"
    assert main(["import", str(src), "--out", str(out)]) == 0
    assert read_model_spec(out).input.channel_order == "BGR"
    provenance = read_provenance(out)
    assert provenance is not None
    assert provenance.epoch == 77
    assert provenance.metrics["metrics/mean_r2"] == 0.87


def test_import_refuses_a_malicious_file(tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "created"
    src = tmp_path / "evil.pth"
    torch.save({"model_state_dict": {}, "x": _Touch(target)}, src)
    out = tmp_path / "out.safetensors"
    assert main(["import", str(src), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "builtins.getattr" in err
    assert len(err.strip().splitlines()) == 1
    assert not target.exists()
    assert not out.exists()
    assert not os.path.exists(tmp_path / "out.safetensors")


def test_import_other_file_names_what_was_expected(tmp_path: Path, capsys: Any) -> None:
    src = tmp_path / "other.pth"
    torch.save({"weights": [1, 2]}, src)
    assert main(["import", str(src), "--out", str(tmp_path / "o.safetensors")]) == 1
    assert "expected one of" in capsys.readouterr().err


@pytest.mark.slow
def test_import_first_place_into_v2l_timm_unet(tmp_path: Path, capsys: Any) -> None:
    # 120 M parameters: the generated file holds real (contiguous) tensors, ~480 MB.
    ckpt = first_place()
    ckpt["state_dict"] = {k: v.contiguous() for k, v in ckpt["state_dict"].items()}
    src = tmp_path / "folds_TimmUnet_tf_efficientnetv2_l_in21k_5_r2"
    torch.save(ckpt, src)
    out = tmp_path / "v2l.safetensors"
    assert main(["import", str(src), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1st-place" in printed
    assert "preset v2l-timm-unet" in printed
    spec = read_model_spec(out)
    assert spec.name == "v2l-timm-unet-imported"
    assert spec.input.channel_order == "RGB"
    assert spec.input.mean == (0.5, 0.5, 0.5)
    assert spec.input.std == (0.5, 0.5, 0.5)
    provenance = read_provenance(out)
    assert provenance is not None
    assert provenance.epoch == 31
    assert provenance.metrics == {"r2": pytest.approx(0.91)}
    ours = load_model(out).state_dict()
    theirs = ckpt["state_dict"]
    for key, their_key in [
        ("decoder.upsample_convs.0.0.weight", "decoder_stages.3.layer.1.weight"),
        ("decoder.blocks.4.conv.0.bias", "last_upsample.layer.3.bias"),
        ("heads.orientation.mlp.1.weight", "xydir_head.3.weight"),
        ("encoder.net.conv_stem.weight", "encoder.conv_stem.weight"),
    ]:
        assert torch.equal(ours[key], theirs[f"module.{their_key}"])
