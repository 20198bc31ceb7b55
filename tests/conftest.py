"""Fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread per test: ``make test`` already runs one test process
    per core, and OpenMP threads spin-waiting for a busy core cost far more than they
    gain on the tests' tiny tensors (20× slower seen on a shared 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _private_onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The ONNX backend's graph cache in a folder of this test session (children started
    by tests inherit it), never the user's ``~/.cache/geopose``."""
    import os

    before = os.environ.get("GEOPOSE_CACHE")
    os.environ["GEOPOSE_CACHE"] = str(tmp_path_factory.mktemp("geopose-cache"))
    yield
    if before is None:
        os.environ.pop("GEOPOSE_CACHE", None)
    else:
        os.environ["GEOPOSE_CACHE"] = before
