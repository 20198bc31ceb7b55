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
