"""Tiny synthetic layouts and configs for the training-engine tests.

The layout comes from the real synthetic generator (64 px tiles, two cities); the
config is the shipped ``tiny`` recipe with small overrides, so tests exercise what users
run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from geopose.config import Config, load_config
from geopose.data.synth import write_dataset
from geopose.training.recipes import recipe_path


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 labelled 64 px tiles (JAX, OMA) with groups, and 2 test tiles."""
    root = tmp_path_factory.mktemp("synth") / "data"
    write_dataset(root, ["JAX", "OMA"], 6, 1, 64, seed=3, workers=1, progress=False)
    return root


@pytest.fixture
def tiny_config(synth_root: Path) -> Callable[..., Config]:
    """``tiny_config("train.max_steps=4", ...)``: the tiny recipe on ``synth_root``.

    4 folds of 12 images: 9 training tiles (3 steps of 3 per epoch), 3 validation tiles.
    """

    def make(*overrides: str) -> Config:
        base = [
            f"data.root={synth_root}",
            "data.folds=4",
            "train.batch_size=3",
            "train.workers=0",
            "train.crop_size=32",
            "train.deterministic=true",
        ]
        return load_config(recipe_path("tiny"), [*base, *overrides])

    return make
