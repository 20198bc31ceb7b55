"""``geopose train`` through the command line: run, resume, --json, recipes, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from geopose.checkpoint import load_checkpoint
from geopose.cli import main
from geopose.config import load_config
from geopose.data.synth import write_dataset
from geopose.models import create_model, list_presets
from geopose.training.recipes import recipe_names, recipe_path

SMALL = ["data.folds=4", "train.batch_size=3", "train.crop_size=32", "train.workers=0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cmd") / "data"
    write_dataset(root, ["JAX", "OMA"], 6, 1, 48, seed=2, workers=1, progress=False)
    return root


def test_train_then_resume_with_more_steps(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, report = tmp_path / "run", tmp_path / "figures.json"
    args = ["train", "--data", str(data), "--out", str(run), "--config", "tiny", "--no-progress"]
    assert main([*args, *SMALL, "train.max_steps=2", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("finished: step 2")
    figures = json.loads(report.read_text())
    assert figures["step"] == 2
    assert figures["stopped"] == "finished"
    assert figures["score"] is not None

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["root"] == str(data)
    assert config["train"]["max_steps"] == 2
    state, saved, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    create_model(saved["model"]["preset"]).load_state_dict(state, strict=True)

    assert main(["train", "--resume", str(run), "--no-progress", "train.max_steps=4"]) == 0
    assert capsys.readouterr().out.startswith("finished: step 4")
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["max_steps"] == 4


def test_diverging_run_exits_3_with_a_message(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An absurd learning rate makes the weights overflow: the run must stop, not go on
    # with NaN weights.
    args = ["train", "--data", str(data), "--out", str(tmp_path / "r"), "--no-progress"]
    code = main(
        [
            *args,
            *SMALL,
            "train.max_steps=6",
            "optim.name=sgd",
            "optim.lr=1e30",
            "train.grad_clip=null",
        ]
    )
    assert code == 3
    err = capsys.readouterr().err
    assert "non-finite" in err


def test_usage_errors_exit_2(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "r")
    assert main(["train", "--data", str(data), "--out", out, "train.batchsize=2"]) == 2
    assert "did you mean 'batch_size'" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--out", out, "--config", "nope"]) == 2
    assert "shipped recipe" in capsys.readouterr().err
    assert main(["train", "--data", str(data)]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["train", "--resume", out, "--out", out]) == 2
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 1  # names the missing file
    assert "config.yaml" in capsys.readouterr().err


def test_shipped_recipes_load_and_name_real_presets() -> None:
    names = recipe_names()
    assert {"tiny", "b0-unet", "b7-unet", "b6-rdtsc-unet", "v2l-unet"} <= set(names)
    presets = set(list_presets())
    for name in names:
        config = load_config(recipe_path(name))
        assert config.model.preset in presets, name
    assert load_config(recipe_path("b7-unet")).loss.terms["agl_huber"]["delta"] == 10.0
    assert "agl_city_r2" in load_config(recipe_path("v2l-unet")).loss.terms
    assert torch.__version__  # the recipes are plain data: nothing else to import
