"""Fixtures of the prediction tests: a briefly trained tiny model and a synthetic layout.

The tiny model trains for a few dozen optimizer steps on 64 px synthetic tiles, so its
outputs depend on the image content (an untrained model would be nearly constant and
the TTA tests could not fail).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from geopose.config import Config, config_to_dict
from geopose.data.synth import generate_sample, load_presets, write_dataset
from geopose.losses import build_loss
from geopose.models import GeoposeModel, create_model, get_preset, save_model

TILE = 64
STEPS = 40
BATCH = 4


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Any:
    """One torch thread: on a shared 2-core machine two threads mostly wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _batch(samples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    image = torch.from_numpy(np.stack([s["image"] for s in samples])).permute(0, 3, 1, 2)
    agl = np.stack([s["agl"] for s in samples])
    valid = np.isfinite(agl)
    batch = {
        "agl": torch.from_numpy(np.where(valid, agl, 0.0).astype(np.float32))[:, None],
        "valid": torch.from_numpy(valid)[:, None],
        "scale": torch.tensor([s["scale"] for s in samples], dtype=torch.float32),
        "angle": torch.tensor([s["angle"] for s in samples], dtype=torch.float32),
        "city": [s["city"] for s in samples],
    }
    gsd = torch.tensor([s["gsd"] for s in samples], dtype=torch.float32)
    return image.float() / 255.0, gsd, batch


def train_tiny(config: Any, steps: int = STEPS, seed: int = 0) -> GeoposeModel:
    """A tiny model trained for ``steps`` AdamW steps on 4-tile batches of synthetic data."""
    torch.manual_seed(seed)
    model = create_model(config)
    loss = build_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    presets = load_presets()
    cities = ("JAX", "OMA", "ATL", "ARG")
    pool = [
        generate_sample(cities[i % 4], seed * 1000 + i, size=TILE, presets=presets)
        for i in range(4 * BATCH)
    ]
    model.train()
    for step in range(steps):
        first = (step * BATCH) % len(pool)
        image, gsd, batch = _batch(pool[first : first + BATCH])
        total, _ = loss(model(image, gsd), batch)
        opt.zero_grad()
        total.backward()
        opt.step()
    return model.eval()


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
