"""Fixtures of the prediction tests: a briefly trained tiny model and a synthetic layout.

The tiny model trains for a few dozen optimizer steps on 64 px synthetic tiles, so its
outputs depend on the image content (an untrained model would be nearly constant and
the TTA tests could not fail).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch

from geopose.config import Config, config_to_dict
from geopose.data.synth import write_dataset
from geopose.models import GeoposeModel, create_model, get_preset, save_model
from tiny_training import STEPS, TILE, train_tiny


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Any:
    """One torch thread: on a shared 2-core machine two threads mostly wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model() -> GeoposeModel:
    """The briefly trained ``tiny`` preset model (eval mode)."""
    return train_tiny("tiny")


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model: GeoposeModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_model`` saved as the training engine saves it (format 2): its spec, and the
    whole run config (``config_to_dict``), whose ``model`` section names the preset."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    config = config_to_dict(Config())
    assert config["model"]["preset"] == "tiny"
    save_model(path, tiny_model, config=config, extra={"step": STEPS, "epoch": 0})
    return path


@pytest.fixture(scope="session")
def other_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second member of another architecture (not a preset), saved in format 2."""
    cfg = get_preset("tiny").to_dict()
    cfg["name"] = "tiny-fpn"
    cfg["decoder"] = {"kind": "fpn", "channels": 24}
    model = train_tiny(cfg, steps=8, seed=1)
    path = tmp_path_factory.mktemp("ckpt") / "tiny_fpn.safetensors"
    save_model(path, model)
    return path


def converted_to_bgr(model: GeoposeModel, resolution_factor: float = 1.0) -> GeoposeModel:
    """``model`` as a network trained on BGR in [0, 255]: the stem convolution's input
    channels reversed and the mean/std reversed and scaled by 255. At resolution factor
    1 it computes what ``model`` computes, through another input convention."""
    convention = dataclasses.replace(
        model.spec.input,
        channel_order="BGR",
        mean=tuple(255.0 * v for v in reversed(model.spec.input.mean or ())),
        std=tuple(255.0 * v for v in reversed(model.spec.input.std or ())),
        value_range=255.0,
        resolution_factor=resolution_factor,
    )
    bgr = create_model(dataclasses.replace(model.spec, name="tiny-bgr", input=convention))
    state = dict(model.state_dict())
    stem = "encoder.net.conv_stem.weight"
    state[stem] = state[stem][:, [2, 1, 0]].clone()
    bgr.load_state_dict(state, strict=True)
    return bgr.eval()


@pytest.fixture(scope="session")
def bgr_checkpoint(tiny_model: GeoposeModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_model`` converted to a BGR/[0, 255] network (same outputs), format 2."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny_bgr.safetensors"
    save_model(path, converted_to_bgr(tiny_model))
    return path


@pytest.fixture(scope="session")
def half_checkpoint(tiny_model: GeoposeModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The BGR conversion of ``tiny_model`` running at half resolution, format 2."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny_bgr_half.safetensors"
    save_model(path, converted_to_bgr(tiny_model, resolution_factor=0.5))
    return path


@pytest.fixture(scope="session")
def synth_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic competition layout: 2 cities × 2 test tiles of 64 px, with test_truth/."""
    root = tmp_path_factory.mktemp("layout")
    write_dataset(
        root,
        cities=("JAX", "OMA"),
        train_per_city=0,
        test_per_city=2,
        size=TILE,
        seed=3,
        progress=False,
    )
    return root
