"""Fixtures of the hardening suite: a tiny checkpoint and a tiny synthetic layout, made
once per test process (module helpers are in :mod:`hardening.harness`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from geopose.data.synth import write_dataset
from geopose.models import create_model, save_model
from hardening.harness import TILE


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained ``tiny`` model (format-2 checkpoint): enough to run every verb."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hard_ckpt") / "tiny.safetensors"
    save_model(path, create_model("tiny"))
    return path


@pytest.fixture(scope="session")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean synthetic layout: JAX and OMA, 2 train and 3 test tiles each, 64 px,
    with test_truth/. Tests copy it before breaking it (:func:`copy_layout`)."""
    root = tmp_path_factory.mktemp("hard_layout") / "data"
    write_dataset(root, ("JAX", "OMA"), 2, 3, TILE, seed=5, progress=False)
    return root
