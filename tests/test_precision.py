"""Precision selection: one autocast context and one grad scaler per run."""

from __future__ import annotations

import pytest
import torch

from geopose.errors import UsageError
from geopose.precision import autocast, grad_scaler, resolve_precision

CPU = torch.device("cpu")


def test_auto_is_fp32_on_cpu_and_fp16_is_allowed_for_testing() -> None:
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"
    # fp16 on CPU is slow but lets the fp16 + GradScaler path be tested without a GPU.
    assert resolve_precision("fp16", CPU) == "fp16"
    assert grad_scaler("fp16", CPU).is_enabled()
    with pytest.raises(UsageError, match="choose one of"):
        resolve_precision("fp8", CPU)


def test_autocast_context_changes_matmul_dtype() -> None:
    a = torch.randn(4, 4)
    with autocast("bf16", CPU):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("fp32", CPU):
        assert (a @ a).dtype == torch.float32
    assert not grad_scaler("fp32", CPU).is_enabled()


@pytest.mark.parametrize("native", [True, False])
def test_auto_trains_in_bf16_only_on_a_cpu_that_computes_it_natively(
    native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geopose.precision as precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", CPU, training=True) == ("bf16" if native else "fp32")
    assert resolve_precision("auto", CPU) == "fp32"  # prediction stays fp32 on a CPU


def test_auto_on_cuda_asks_the_run_gpu_for_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    # GPU 0 an A100 (8.0), GPU 1 a V100 (7.0) where bf16 is only emulated; torch's
    # is_bf16_supported() says yes for both (emulation counts) and asks the current GPU.
    capability = {0: (8, 0), 1: (7, 0)}
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(
        torch.cuda, "get_device_capability", lambda d=None: capability[torch.device(d).index]
    )
    assert resolve_precision("auto", torch.device("cuda", 0), training=True) == "bf16"
    assert resolve_precision("auto", torch.device("cuda", 1), training=True) == "fp32"
    assert resolve_precision("auto", torch.device("cuda", 1)) == "fp32"
    capability[1] = (9, 0)  # an H100
    assert resolve_precision("auto", torch.device("cuda", 1)) == "bf16"
