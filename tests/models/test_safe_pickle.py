"""Foreign torch pickles are read without running code; anything else is refused by name."""

from __future__ import annotations

import io
import os
import pathlib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from geopose.errors import DataError
from geopose.models.safe_pickle import allowed_globals, read_torch_pickle


class _TouchFile:
    """Unpickling this calls ``pathlib.Path.touch`` on ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> Any:
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


class _System:
    """Unpickling this runs a shell command that creates ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.target}",))


def _payload(evil: object) -> dict[str, Any]:
    return {"model_state_dict": {"w": torch.ones(3)}, "epoch": 7, "extra": evil}


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize(
    ("evil_cls", "named"),
    [(_TouchFile, "builtins.getattr"), (_System, "system")],
    ids=["path-touch", "os-system"],
)
def test_malicious_pickle_is_refused_named_and_nothing_runs(
    tmp_path: Path, zip_format: bool, evil_cls: type, named: str
) -> None:
    target = tmp_path / "created_by_pickle"
    path = tmp_path / "evil.pth"
    torch.save(_payload(evil_cls(target)), path, _use_new_zipfile_serialization=zip_format)
    assert not target.exists()
    with pytest.raises(DataError, match="refused") as info:
        read_torch_pickle(path)
    message = str(info.value)
    assert named in message
    assert str(path) in message
    assert "\n" not in message
    assert not target.exists()


def test_the_payload_really_creates_the_file_when_unpickled_unsafely(tmp_path: Path) -> None:
    # The refusal test above is meaningful only if the payload does what it claims.
    target = tmp_path / "created_by_pickle"
    path = tmp_path / "evil.pth"
    torch.save(_payload(_TouchFile(target)), path)
    torch.load(path, weights_only=False)
    assert target.exists()


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_numpy_scalars_arrays_and_tensors_are_read(tmp_path: Path, zip_format: bool) -> None:
    path = tmp_path / "ok.pth"
    data = {
        "epoch": 12,
        "metrics": {"r2": np.float64(0.87), "loss": np.float32(0.25), "n": np.int64(4)},
        "curve": np.arange(5, dtype=np.float32),
        "state_dict": {"a.weight": torch.arange(6.0).reshape(2, 3)},
    }
    torch.save(data, path, _use_new_zipfile_serialization=zip_format)
    got = read_torch_pickle(path)
    assert got["epoch"] == 12
    assert got["metrics"]["r2"] == np.float64(0.87)
    assert isinstance(got["metrics"]["loss"], np.float32)
    np.testing.assert_array_equal(got["curve"], np.arange(5, dtype=np.float32))
    assert torch.equal(got["state_dict"]["a.weight"], data["state_dict"]["a.weight"])


def _rename_numpy_module(raw: bytes) -> bytes:
    """numpy 2 pickles name ``numpy._core``; numpy 1.x files (2021) name ``numpy.core``."""
    assert b"numpy._core.multiarray" in raw
    return raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def test_numpy_1x_module_names_are_read_legacy(tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"r2": np.float64(0.5)}, buf, _use_new_zipfile_serialization=False)
    path = tmp_path / "np1.pth"
    path.write_bytes(_rename_numpy_module(buf.getvalue()))
    assert read_torch_pickle(path)["r2"] == np.float64(0.5)


def test_numpy_1x_module_names_are_read_zip(tmp_path: Path) -> None:
    src = tmp_path / "np2.pth"
    torch.save({"r2": np.float64(0.5), "w": torch.ones(2)}, src)
    dst = tmp_path / "np1.pth"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            raw = zin.read(item.filename)
            if item.filename.endswith("data.pkl"):
                raw = _rename_numpy_module(raw)
            zout.writestr(item, raw)
    got = read_torch_pickle(dst)
    assert got["r2"] == np.float64(0.5)
    assert torch.equal(got["w"], torch.ones(2))


def test_allow_list_names_both_numpy_module_paths() -> None:
    names = allowed_globals()
    assert "numpy.core.multiarray.scalar" in names
    assert "numpy._core.multiarray.scalar" in names
    assert not any(n.startswith(("os.", "posix.", "builtins.", "pathlib.")) for n in names)


def test_not_a_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(DataError, match="not a readable torch checkpoint"):
        read_torch_pickle(path)
    with pytest.raises(DataError, match="not found"):
        read_torch_pickle(tmp_path / "absent.pth")
