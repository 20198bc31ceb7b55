"""Fine-tuning: ``model.weights`` = a geopose checkpoint starts from that whole model.

The "imported" checkpoint is a tiny model with a foreign input convention (BGR, values in
[0, 255], its own mean/std: what ``geopose import`` writes for a published network),
random weights and randomised BatchNorm statistics, saved with provenance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from geopose.checkpoint import is_geopose_checkpoint
from geopose.config import Config
from geopose.data.dataset import ValDataset
from geopose.data.folds import split_ids
from geopose.errors import UsageError
from geopose.io import open_layout
from geopose.metrics import GeoposeMetric
from geopose.models import (
    GeoposeModel,
    InputConvention,
    Provenance,
    create_model,
    get_preset,
    load_model,
    read_model_spec,
    save_model,
)
from geopose.training.start_model import start_model
from geopose.training.trainer import Trainer, TrainHooks, resume_config, train

MakeConfig = Callable[..., Config]

FOREIGN = InputConvention(
    channel_order="BGR",
    mean=(104.0, 117.0, 124.0),
    std=(57.0, 57.5, 58.0),
    value_range=255.0,
)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A format-2 'imported' tiny checkpoint with a foreign input convention."""
    torch.manual_seed(11)
    spec = dataclasses.replace(get_preset("tiny"), name="tiny-imported", input=FOREIGN)
    model = create_model(spec)
    gen = torch.Generator().manual_seed(12)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                assert module.running_mean is not None
                assert module.running_var is not None
                module.running_mean.normal_(0.0, 0.2, generator=gen)
                module.running_var.uniform_(0.5, 1.5, generator=gen)
    path = tmp_path_factory.mktemp("imported") / "tiny_imported.safetensors"
    provenance = Provenance(source="published.pth", sha256="0" * 64, origin="a test", epoch=3)
    save_model(path, model, provenance=provenance)
    return path


def _reference_score(model: GeoposeModel, config: Config, cache: Path) -> float:
    """The official score of ``model`` on the run's validation tiles, tile by tile."""
    assert config.data.root is not None
    layout = open_layout(config.data.root)
    metas = [layout.metadata[e.id] for e in layout.entries("train")]
    _, val_ids = split_ids(metas, config.data.folds, config.data.fold, config.data.split, 0)
    tiles = ValDataset([layout.entry(i) for i in val_ids], cache)
    metric = GeoposeMetric()
    model.eval()
    for i in range(len(tiles)):
        s = tiles[i]
        image = torch.from_numpy(s["image"]).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            pred = model(image, torch.tensor([s["gsd"]]))
        metric.update(
            s["city"], pred["agl"][0, 0].numpy(), float(pred["scale"][0]),
            float(pred["angle"][0]), s["agl"], s["scale"], s["angle"],
        )  # fmt: skip
    assert len(tiles) == 3
    return float(metric.compute().as_dict()["score"])


def test_finetuning_starts_from_the_whole_imported_model(
    imported: Path, tiny_config: MakeConfig, tmp_path: Path
) -> None:
    config = tiny_config(f"model.weights={imported}", "train.max_steps=3")
    trainer = Trainer(config, tmp_path / "run", TrainHooks(), progress=False)
    try:
        source = load_model(imported)
        # The checkpoint's own spec (its foreign input convention included), its weights.
        assert trainer.raw_model.spec == source.spec
        assert trainer.raw_model.spec.input == FOREIGN
        ours = trainer.raw_model.state_dict()
        assert all(torch.equal(v, ours[k]) for k, v in source.state_dict().items())
        # Validation before any optimizer step = the imported model's score on these tiles.
        first = trainer._validate()
        assert first is not None
        expected = _reference_score(source, config, tmp_path / "ref-cache")
        assert first["score"] == pytest.approx(expected, abs=1e-9)
        # Then it trains, and every checkpoint keeps the imported spec.
        result = trainer.run(resume=False)
    finally:
        trainer.close()
    assert result.stopped == "finished"
    assert result.step == 3
    last = tmp_path / "run" / "checkpoints" / "last.safetensors"
    assert read_model_spec(last) == source.spec
    tuned = load_model(last).state_dict()
    changed = [k for k, v in source.state_dict().items() if not torch.equal(v, tuned[k])]
    assert any(k.startswith("heads.") for k in changed)
    assert result.score is not None
    assert result.score != pytest.approx(expected, abs=1e-9)


def test_finetuning_run_resumes(imported: Path, tiny_config: MakeConfig, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = tiny_config(f"model.weights={imported}", "train.max_steps=3")
    train(config, run, progress=False)
    result = train(resume_config(run, ["train.max_steps=6"]), run, resume=True, progress=False)
    assert result.step == 6
    assert read_model_spec(run / "checkpoints" / "last.safetensors").input == FOREIGN


def test_a_conflicting_explicit_preset_is_a_usage_error(
    imported: Path, tiny_config: MakeConfig
) -> None:
    config = tiny_config(f"model.weights={imported}", "model.preset=tiny-lean")
    with pytest.raises(UsageError, match=r"tiny_imported\.safetensors is a geopose checkpoint"):
        start_model(config.model)


def test_the_checkpoints_own_architecture_as_preset_is_accepted(
    imported: Path, tiny_config: MakeConfig
) -> None:
    # The preset names the same network; the checkpoint's input convention wins.
    start = start_model(tiny_config(f"model.weights={imported}", "model.preset=tiny").model)
    assert start.from_checkpoint
    assert start.model.spec.input == FOREIGN
    assert start.model.training
    assert "tiny_imported.safetensors" in start.origin
    assert "BGR" in start.origin


def test_other_files_are_still_encoder_weights(tiny_config: MakeConfig, tmp_path: Path) -> None:
    torch.manual_seed(5)
    full = timm.create_model("test_efficientnet", pretrained=False)
    path = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(path))
    assert not is_geopose_checkpoint(path)
    start = start_model(tiny_config(f"model.weights={path}").model)
    assert not start.from_checkpoint
    assert start.model.spec == create_model("tiny").spec  # the preset, its own convention
    enc = start.model.encoder.net.state_dict()
    hits = [k for k in enc if k in full.state_dict()]
    assert hits
    assert all(torch.equal(enc[k], full.state_dict()[k]) for k in hits)


def test_is_geopose_checkpoint_tells_the_kinds_apart(imported: Path, tmp_path: Path) -> None:
    assert is_geopose_checkpoint(imported)
    assert not is_geopose_checkpoint(tmp_path / "missing.safetensors")
    pickled = tmp_path / "state.pt"
    torch.save({"w": torch.zeros(1)}, pickled)
    assert not is_geopose_checkpoint(pickled)
