"""A tiny synthetic layout (real generator, real file formats) for the dataset tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from geopose.data.synth import write_dataset
from geopose.io import Layout, open_layout


@pytest.fixture
def small_layout(tmp_path: Path) -> Layout:
    """6 labelled 48 px tiles of JAX and OMA (fresh per test: tests touch the files)."""
    root = tmp_path / "data"
    write_dataset(root, ["JAX", "OMA"], 3, 0, 48, seed=5, workers=1, progress=False)
    return open_layout(root)
