"""The ONNX Runtime prediction backend: same outputs as PyTorch, cached graphs, the choice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from agl_compare import assert_files_match
from geopose.cli import main
from geopose.errors import UsageError
from geopose.inference.onnx_backend import OnnxNetwork, network_key, onnx_network
from geopose.inference.options import PredictOptions, network_predictor, resolve_backend
from geopose.inference.tta import TTAModel
from geopose.io import open_layout, read_agl, read_vflow
from geopose.io.layout import agl_name, vflow_name
from geopose.models import GeoposeModel, create_model, get_preset, list_presets
from geopose.runtime import Runtime

#: Presets light enough to export and run on every `make test` (the heavy encoders are
#: the same code path; ``benchmarks/predict_vs_peer.py`` runs the B7 through it).
LIGHT = [
    p for p in list_presets()
    if get_preset(p).input.resolution_factor == 1.0
    and not any(big in p for big in ("b7", "b6", "v2l", "r34", "b0"))
]  # fmt: skip


def _randomised(preset: str, seed: int = 0) -> GeoposeModel:
    """A preset with random weights and BatchNorm statistics, so every output is non-zero
    and a swapped or dropped tensor shows (fresh models predict AGL 0 everywhere)."""
    torch.manual_seed(seed)
    model = create_model(preset).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                assert module.running_mean is not None
                assert module.running_var is not None
                module.running_mean.normal_(0.0, 0.2, generator=gen)
                module.running_var.uniform_(0.5, 1.5, generator=gen)
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.normal_(0.0, 0.2, generator=gen)
            elif isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, (1.0 / fan_in) ** 0.5, generator=gen)
                if module.bias is not None:
                    module.bias.uniform_(0.0, 0.5, generator=gen)
    return model


@pytest.mark.parametrize("preset", LIGHT)
def test_onnx_network_matches_torch_at_any_tile_size(preset: str, tmp_path: Path) -> None:
    model = _randomised(preset)
    onnx = onnx_network(model, cache_dir=tmp_path, threads=1)
    multiple = onnx.input_multiple
    for rows, cols in ((2 * multiple, 2 * multiple), (3 * multiple, 4 * multiple)):
        image = torch.rand(2, 3, rows, cols, generator=torch.Generator().manual_seed(rows))
        gsd = torch.tensor([0.3, 0.6])
        with torch.inference_mode():
            want, got = model(image, gsd), onnx(image, gsd)
        assert want["agl"].abs().max() > 0.01
        assert want["mag"].abs().max() > 0.01
        for key in ("agl", "mag", "scale", "direction"):
            assert got[key].shape == want[key].shape, key
            scale = max(1.0, float(want[key].abs().max()))
            assert float((got[key] - want[key]).abs().max()) < 1e-4 * scale, key


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_images_in_parallel_or_in_turn_give_the_batch_result(batch: int, tmp_path: Path) -> None:
    """Two threads: a batch of ≥ 2 runs one image per thread, a single image on the
    two-thread session; both equal PyTorch on the whole batch."""
    model = _randomised("tiny-lean-gs")
    onnx = onnx_network(model, cache_dir=tmp_path, threads=2)
    image = torch.rand(batch, 3, 64, 96, generator=torch.Generator().manual_seed(batch))
    gsd = torch.linspace(0.3, 0.6, batch)
    with torch.inference_mode():
        want, got = model(image, gsd), onnx(image, gsd)
    for key in ("agl", "mag", "scale", "direction", "angle"):
        assert got[key].shape == want[key].shape, key
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-4)


def test_predictions_agree_with_torch_to_the_centimetre(tmp_path: Path) -> None:
    """The issue's criterion: AGL within 1 cm of PyTorch fp32 on ≥ 99.9 % of pixels."""
    model = _randomised("tiny")
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (1, 96, 128, 3), dtype=np.uint8)
    results = {}
    for backend in ("torch", "onnx"):
        opts = PredictOptions(tta="d4", device="cpu", precision="fp32", backend=backend)
        pred = network_predictor(model, opts)
        wrapped = pred.model.model if isinstance(pred.model, TTAModel) else None
        assert isinstance(wrapped, OnnxNetwork) == (backend == "onnx")
        results[backend] = pred.predict_tiles(tile, [0.4])[0]
    torch_res, onnx_res = results["torch"], results["onnx"]
    close = np.abs(onnx_res.agl - torch_res.agl) <= 0.01
    assert close.mean() >= 0.999
    assert onnx_res.scale == pytest.approx(torch_res.scale, rel=1e-4)
    assert onnx_res.angle == pytest.approx(torch_res.angle, abs=1e-4)


def test_a_graph_is_exported_once_and_keyed_by_the_weights(tmp_path: Path) -> None:
    model = _randomised("tiny")
    first = onnx_network(model, cache_dir=tmp_path)
    stamp = first.path.stat().st_mtime_ns
    again = onnx_network(model, cache_dir=tmp_path)
    assert again.path == first.path
    assert again.path.stat().st_mtime_ns == stamp
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    changed = onnx_network(model, cache_dir=tmp_path)
    assert changed.path != first.path
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == sorted(
        [first.path.name, changed.path.name]
    )
    assert network_key(_randomised("tiny", seed=1)) != network_key(_randomised("tiny"))


def test_auto_is_onnx_on_a_cpu_at_fp32_and_torch_elsewhere() -> None:
    cpu32 = Runtime.from_env("cpu", "fp32", env={})
    cpu16 = Runtime.from_env("cpu", "bf16", env={})
    assert resolve_backend("auto", cpu32) == "onnx"
    assert resolve_backend("auto", cpu16) == "torch"
    assert resolve_backend("torch", cpu32) == "torch"
    with pytest.raises(UsageError, match="fp32 on the CPU"):
        resolve_backend("onnx", cpu16)
    with pytest.raises(UsageError, match="--backend"):
        PredictOptions(backend="tensorrt")


def test_a_model_that_resizes_its_input_stays_on_torch_under_auto() -> None:
    spec = get_preset("tiny")
    coarse = dataclasses.replace(spec, input=dataclasses.replace(spec.input, resolution_factor=0.5))
    model = create_model(coarse).eval()
    auto = network_predictor(model, PredictOptions(device="cpu", precision="fp32"))
    assert isinstance(auto.model, TTAModel)
    assert isinstance(auto.model.model, GeoposeModel)
    with pytest.raises(UsageError, match="resizes the input"):
        network_predictor(model, PredictOptions(device="cpu", precision="fp32", backend="onnx"))


def test_predict_verb_backends_write_the_same_files(
    tiny_checkpoint: Path, synth_layout: Path, tmp_path: Path
) -> None:
    outs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / backend
        args = ["predict", "--checkpoint", str(tiny_checkpoint), "--data", str(synth_layout),
                "--out", str(out), "--device", "cpu", "--precision", "fp32",
                "--backend", backend, "--no-progress"]  # fmt: skip
        assert main(args) == 0
        outs[backend] = out
    for entry in open_layout(synth_layout).entries("test"):
        assert_files_match(
            read_agl(outs["torch"] / agl_name(entry.id)),
            read_agl(outs["onnx"] / agl_name(entry.id)),
        )
        scale_t, angle_t = read_vflow(outs["torch"] / vflow_name(entry.id))
        scale_o, angle_o = read_vflow(outs["onnx"] / vflow_name(entry.id))
        assert scale_o == pytest.approx(scale_t, rel=1e-4, abs=1e-6)
        assert angle_o == pytest.approx(angle_t, abs=1e-4)


def test_auto_predicts_with_torch_when_the_graph_cache_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cache is a speed-up: an unwritable cache folder makes ``auto`` fall back to
    PyTorch with a one-line note, and ``--backend onnx`` fail naming the file."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GEOPOSE_CACHE", str(blocked))
    model = _randomised("tiny", seed=3)
    auto = network_predictor(model, PredictOptions(device="cpu", precision="fp32"))
    assert isinstance(auto.model, TTAModel)
    assert isinstance(auto.model.model, GeoposeModel)
    assert "using torch" in capsys.readouterr().err
    with pytest.raises(OSError, match="blocked"):
        network_predictor(model, PredictOptions(device="cpu", precision="fp32", backend="onnx"))
