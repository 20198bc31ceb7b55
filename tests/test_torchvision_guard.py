"""The torchvision import guard of DESIGN.md §5."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import subprocess
import sys
import types
from collections.abc import Iterator

import pytest

from geopose import _torchvision_guard as guard


def test_timm_imports_in_a_fresh_process() -> None:
    # A new interpreter must get the guard from `import geopose` alone.
    code = "import geopose, timm; timm.create_model('test_resnet', features_only=True)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


class _BrokenTorchvision(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finder that serves a 'torchvision' whose import raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def find_spec(self, name: str, path: object, target: object = None) -> object:
        if name == "torchvision":
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        raise self.error


@pytest.fixture
def fake_torchvision(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "torchvision"}
    for name in saved:
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in [k for k in sys.modules if k.split(".")[0] == "torchvision"]:
        del sys.modules[name]
    sys.modules.update(saved)


def test_other_runtime_errors_are_not_swallowed(
    fake_torchvision: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    finder = _BrokenTorchvision(RuntimeError("CUDA driver version is insufficient"))
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    with pytest.raises(RuntimeError, match="CUDA driver"):
        guard.ensure_torchvision()


def test_healthy_import_is_left_alone(
    fake_torchvision: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = types.ModuleType("torchvision")
    monkeypatch.setitem(sys.modules, "torchvision", healthy)
    assert guard.ensure_torchvision() is False
    assert sys.modules["torchvision"] is healthy
