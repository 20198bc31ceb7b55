"""A small synthetic dataset exported with its truth (nDSM, view, footprints)."""

from __future__ import annotations

import pytest

from truth_tiles import TruthTile, make_truth_tiles


@pytest.fixture(scope="session")
def truth_tiles(tmp_path_factory: pytest.TempPathFactory) -> list[TruthTile]:
    """Two tiles each of ATL and JAX, 128 px, with exported truth."""
    return make_truth_tiles(tmp_path_factory.mktemp("synth_truth"))
