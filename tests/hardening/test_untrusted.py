"""Files a stranger could send: none of them may run code or make geopose write (or
delete) outside its output folder.

Each crafted file carries a payload that would create a marker file (or delete a victim
file) if it were ever executed or obeyed; the verb must refuse the file with a one-line
error naming it, and the marker must not exist afterwards.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from geopose.cli import main
from geopose.errors import GeoposeError
from geopose.training.state import load_state, save_state


class _Payload:
    """Unpickling this calls ``os.system("touch MARKER")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _assert_refused(code: int, text: str, name: str, marker: Path) -> None:
    assert code in (1, 2, 3), text
    assert code != 0
    assert "Traceback" not in text
    assert name in text, text
    assert not marker.exists(), "the file's code ran"


# ----------------------------------------------------------------------------- pickles
@pytest.mark.parametrize("kind", ["legacy-pickle", "torch-zip", "state-dict-with-payload"])
def test_a_published_pth_cannot_run_code(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "MARKER"
    src = tmp_path / f"{kind}.pth"
    if kind == "legacy-pickle":
        src.write_bytes(pickle.dumps({"state_dict": _Payload(marker)}, protocol=2))
    elif kind == "torch-zip":
        torch.save({"state_dict": _Payload(marker)}, src)
    else:
        torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": _Payload(marker)}, src)
    code, text = _cli(capsys, "import", src, "--out", tmp_path / "m.safetensors")
    _assert_refused(code, text, src.name, marker)
    assert not (tmp_path / "m.safetensors").exists()


def test_encoder_weights_named_in_a_config_cannot_run_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from geopose.models import create_model

    marker = tmp_path / "MARKER"
    evil = tmp_path / "encoder.pth"
    torch.save({"conv_stem.weight": _Payload(marker)}, evil)
    with pytest.raises(GeoposeError, match=evil.name):
        create_model("tiny", pretrained=evil)
    assert not marker.exists()


# ----------------------------------------------------------------------------- YAML
YAML_PAYLOADS = [
    "train: !!python/object/apply:os.system ['touch {marker}']\n",
    "train:\n  max_steps: !!python/object/new:os.system ['touch {marker}']\n",
    "!!python/name:os.system\n",
]


@pytest.mark.parametrize("payload", YAML_PAYLOADS)
def test_a_yaml_recipe_cannot_run_code(
    payload: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "MARKER"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(payload.format(marker=marker))
    code, text = _cli(
        capsys, "train", "--data", tmp_path, "--out", tmp_path / "run", "--config", recipe
    )
    _assert_refused(code, text, recipe.name, marker)
    assert not (tmp_path / "run").exists()


def test_a_config_override_cannot_run_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "MARKER"
    override = f"train.max_steps=!!python/object/apply:os.system ['touch {marker}']"
    code, text = _cli(capsys, "train", "--data", tmp_path, "--out", tmp_path / "run", override)
    _assert_refused(code, text, "train.max_steps", marker)


def test_a_non_utf8_recipe_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(b"train:\n  max_steps: 3 # \xff\xfe\n")
    code, text = _cli(
        capsys, "train", "--data", tmp_path, "--out", tmp_path / "r", "--config", recipe
    )
    _assert_refused(code, text, recipe.name, tmp_path / "MARKER")


# ----------------------------------------------------------------------------- run folders
@pytest.fixture(scope="module")
def run_dir(layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run folder (2 steps of the tiny recipe on a private copy of the layout)."""
    import shutil

    root = tmp_path_factory.mktemp("untrusted")
    data = root / "data"
    shutil.copytree(layout, data)
    run = root / "run"
    code = main(
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(run),
            "--config",
            "tiny",
            "--no-progress",
            "train.max_steps=2",
            "train.workers=0",
            "train.crop_size=32",
            "train.batch_size=2",
            "data.folds=2",
        ]
    )
    assert code == 0
    return run


def _copy_run(run_dir: Path, dst: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir, dst))


def test_a_run_folder_config_cannot_run_code(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    marker = tmp_path / "MARKER"
    cfg = run / "config.yaml"
    cfg.write_text(cfg.read_text() + f"evil: !!python/object/apply:os.system ['touch {marker}']\n")
    code, text = _cli(capsys, "train", "--resume", run, "--no-progress", "train.max_steps=3")
    _assert_refused(code, text, "config.yaml", marker)


def test_a_training_state_cannot_delete_files_outside_the_run(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Old best checkpoints are deleted by the names the state lists: a crafted state
    naming ``../../victim`` must be refused before anything is deleted."""
    run = _copy_run(run_dir, tmp_path / "run")
    victim = tmp_path / "victim.safetensors"
    victim.write_text("precious")
    state_path = run / "checkpoints" / "last.state.safetensors"
    state = load_state(state_path)
    state["best"] = [[-1e9, 1, "../../victim.safetensors"]]
    save_state(state_path, state)
    code, text = _cli(
        capsys, "train", "--resume", run, "--no-progress", "train.max_steps=4",
        "train.top_k=1",
    )  # fmt: skip
    _assert_refused(code, text, "last.state.safetensors", tmp_path / "MARKER")
    assert victim.read_text() == "precious"


@pytest.mark.parametrize(
    "skeleton",
    [
        '{"__dict__": [["x", {"__tensor__": "missing"}]]}',
        '{"__class__": "os.system"}',
        '"just a string"',
        "[1, 2",
    ],
)
def test_a_crafted_state_skeleton_is_a_named_error(tmp_path: Path, skeleton: str) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "last.state.safetensors"
    save_file({"t": torch.zeros(1)}, str(path), metadata={"geopose.train_state": skeleton})
    with pytest.raises(GeoposeError, match=path.name):
        load_state(path)


def test_a_checkpoint_naming_an_unknown_encoder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_ckpt: Path
) -> None:
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(tiny_ckpt), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    model = json.loads(meta["geopose.model"])
    model["encoder"]["name"] = "os.system"
    meta["geopose.model"] = json.dumps(model)
    evil = tmp_path / "evil.safetensors"
    save_file(tensors, str(evil), metadata=meta)
    out = tmp_path / "out"
    image = tmp_path / "A_RGB.png"
    from geopose.io import write_rgb

    write_rgb(image, np.zeros((32, 32, 3), np.uint8))
    code, text = _cli(
        capsys, "predict", "--checkpoint", evil, "--image", image, "--gsd", "0.3", "--out", out
    )
    _assert_refused(code, text, "os.system", tmp_path / "MARKER")
    assert not out.exists() or not any(out.iterdir())


# ----------------------------------------------------------------------------- ONNX
def test_an_onnx_file_cannot_read_outside_its_folder(tmp_path: Path) -> None:
    """ONNX external data may name a file; ONNX Runtime must refuse one outside the
    model's folder (what :func:`geopose.export.run_onnx` relies on)."""
    from geopose.export import run_onnx

    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "16")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Add", ["image", "w"], ["agl"])],
        "evil",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [4]),
            helper.make_tensor_value_info("gsd", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("agl", TensorProto.FLOAT, [4])],
        initializer=[weight],
    )
    path = model_dir / "evil.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    with pytest.raises(Exception, match=r"(?i)outside|external|location|path"):
        run_onnx(path, np.zeros(4, np.float32), np.zeros(1, np.float32))


def test_a_hand_made_pth_zip_cannot_run_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand-made .pth zip whose data.pkl calls ``os.system`` (protocol 0)."""
    src = tmp_path / "odd.pth"
    marker = tmp_path / "MARKER"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("odd/data.pkl", f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
        z.writestr("odd/version", b"3\n")
    src.write_bytes(buf.getvalue())
    code, text = _cli(capsys, "import", src, "--out", tmp_path / "m.safetensors")
    _assert_refused(code, text, src.name, marker)
