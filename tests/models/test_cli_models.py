"""``geopose models`` prints the preset table and writes it as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from geopose.cli import main
from geopose.models import count_parameters, create_model, list_presets


def test_models_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models.json"
    assert main(["models", "tiny", "r34-unet", "--size", "256", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tiny" in text
    assert "r34-unet" in text
    assert "GFLOPs@256²" in text
    rows = {r["name"]: r for r in json.loads(out.read_text())["presets"]}
    with torch.device("meta"):
        assert rows["r34-unet"]["params"] == count_parameters(create_model("r34-unet"))
    assert rows["r34-unet"]["params"] == 24437540
    assert rows["tiny"]["gflops_256"] > 0


def test_models_marks_the_published_files_each_preset_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "models.json"
    presets = ["tiny", "r34-unet", "b7-unet", "b6-rdtsc-unet", "v2l-timm-unet"]
    assert main(["models", *presets, "--size", "64", "--json", str(out)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "imports" in lines["name"]
    assert "official baseline baseline_unet_vflow" in lines["r34-unet"]
    assert "2nd place b7_unet" in lines["b7-unet"]
    assert "2nd place b6_rdtsc_unet" in lines["b6-rdtsc-unet"]
    assert "1st place timm_unet_v2l" in lines["v2l-timm-unet"]
    rows = {r["name"]: r for r in json.loads(out.read_text())["presets"]}
    assert rows["tiny"]["imports"] == []
    assert rows["v2l-timm-unet"]["imports"] == ["1st place timm_unet_v2l"]


def test_gflops_scale_with_pixels() -> None:
    from geopose.models import count_gflops

    with torch.device("meta"):
        model = create_model("tiny")
    small, large = count_gflops(model, 128), count_gflops(model, 256)
    # Pooled parts (SE blocks, the orientation MLP) do not grow with the image.
    assert large == pytest.approx(4 * small, rel=1e-3)
    assert large != 4 * small


def test_unknown_preset_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "nope"]) == 2
    assert "unknown model preset 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_all_presets_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    names = list_presets()
    assert {"tiny", "tiny-lean", "b0-unet", "b7-unet", "b6-rdtsc-unet", "v2l-unet"} <= set(names)
    for name in names:
        assert name in text
