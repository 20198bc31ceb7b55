"""The non-finite step guard and the weight check."""

from __future__ import annotations

import math

import pytest
import torch

from geopose.errors import JobAborted
from geopose.training.nonfinite import NonFiniteGuard, is_finite, weights_finite


def test_guard_counts_and_stops_after_consecutive_bad_steps() -> None:
    guard = NonFiniteGuard(max_consecutive=3)
    for ok in (True, False, False, True, False, False):
        guard.record(ok, step=7)
    assert guard.total == 4
    assert guard.consecutive == 2
    with pytest.raises(JobAborted, match=r"step 9: 3 consecutive steps .*max_nonfinite=3") as err:
        guard.record(False, step=9)
    assert err.value.exit_code == 3
    restored = NonFiniteGuard(3)
    restored.load_state_dict(guard.state_dict())
    assert (restored.total, restored.consecutive) == (5, 3)


def test_finite_checks() -> None:
    assert is_finite(torch.tensor(1.0))
    assert not is_finite(torch.tensor(math.inf))
    assert not is_finite(torch.tensor([1.0, math.nan]))
    assert not is_finite(math.nan)
    model = torch.nn.Linear(3, 2)
    assert weights_finite(model)
    with torch.no_grad():
        model.bias[1] = math.nan
    assert not weights_finite(model)


def test_non_fatal_skips_are_counted_but_do_not_stop_the_run() -> None:
    guard = NonFiniteGuard(max_consecutive=2)
    for _ in range(5):
        guard.record(False, step=0, fatal=False)  # fp16 loss-scale calibration
    assert guard.total == 5
    assert guard.consecutive == 0
    guard.record(False, step=0)
    with pytest.raises(JobAborted):
        guard.record(False, step=0)
