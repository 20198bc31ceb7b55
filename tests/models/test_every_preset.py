"""Every registered preset on a CPU and on the ``meta`` device: forward, loss, the
backward graph and TTA, so the GPU paths are exercised without a GPU.

On ``meta`` every tensor that geopose's own code creates must follow its inputs: a
tensor made on the CPU inside the model, the loss or TTA (a constant, a mask) meets the
``meta`` inputs and fails loudly here, as it would fail on a CUDA device. Under bf16
autocast the heads' height and magnitude maps (and every other output) stay float32.
"""

from __future__ import annotations

import pytest
import torch

from geopose.inference.tta import TTAModel
from geopose.losses import build_loss
from geopose.models import create_model, get_preset, list_presets
from geopose.training.determinism import cuda_nondeterministic_backwards

PRESETS = list_presets()
#: ``meta`` runs the encoder's batch norms through Python decompositions (about 30 s
#: for the large timm encoders here), so the meta run covers the presets on the test
#: encoder; every head and decoder kind of the registry must be among them (checked).
META_ENCODER = "test_efficientnet"
META_PRESETS = [p for p in PRESETS if get_preset(p).encoder.name == META_ENCODER]


def _batch(device: torch.device, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, dict]:
    image = torch.rand(2, 3, size, size, device=device)
    gsd = torch.tensor([0.3, 0.5], device=device)
    labels = {
        "agl": torch.rand(2, 1, size, size, device=device) * 50.0,
        "valid": torch.ones(2, 1, size, size, dtype=torch.bool, device=device),
        "scale": torch.tensor([2.0, 3.0], device=device),
        "angle": torch.tensor([0.5, -1.0], device=device),
        "city": ["JAX", "OMA"],
        "gsd": gsd,
    }
    return image, gsd, labels


def _kinds(preset: str) -> set[str]:
    spec = get_preset(preset)
    return {f"head:{h.kind}" for h in spec.heads} | {f"decoder:{spec.decoder.kind}"}


def test_the_meta_presets_cover_every_head_and_decoder_kind() -> None:
    assert META_PRESETS
    covered = set().union(*(_kinds(p) for p in META_PRESETS))
    everything = set().union(*(_kinds(p) for p in PRESETS))
    assert everything <= covered, everything - covered


@pytest.mark.parametrize("preset", META_PRESETS)
def test_forward_loss_and_tta_stay_on_the_meta_device(preset: str) -> None:
    meta = torch.device("meta")
    with meta:
        model = create_model(preset)
    image, gsd, labels = _batch(meta)
    pred = model(image, gsd)
    assert {v.device for v in pred.values()} == {meta}
    loss, terms = build_loss()(pred, labels)
    assert loss.device == meta
    assert {v.device for v in terms.values()} == {meta}
    tta = TTAModel(model.eval(), "flip")(image, gsd)
    assert {v.device for v in tta.values()} == {meta}


def _has_node(root: torch.Tensor, prefix: str) -> bool:
    """Whether ``root``'s autograd graph holds a node whose name starts with ``prefix``."""
    seen, stack = set(), [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if type(node).__name__.startswith(prefix):
            return True
        stack.extend(n for n, _ in node.next_functions)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_bf16_outputs_are_float32_and_the_backward_is_known(preset: str) -> None:
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    model = create_model(preset)
    # The smallest tile the model takes: bf16 is emulated on CPUs without AVX-512 BF16,
    # where a 64 px batch of the B7 took 90 s.
    image, gsd, labels = _batch(cpu, size=int(getattr(model, "input_multiple", 32)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model(image, gsd)
    # bf16 keeps 8 significant bits: 0.5-1 m steps above 128 m, before loss and metric.
    assert {k: v.dtype for k, v in pred.items()} == {k: torch.float32 for k in pred}
    loss, _ = build_loss()(pred, labels)
    assert torch.isfinite(loss)
    # The graph walk finds bilinear upsampling (no deterministic CUDA backward: a CUDA
    # resume matches within rounding only, docs/training.md) exactly where the graph has it.
    found = cuda_nondeterministic_backwards(loss)
    assert ("UpsampleBilinear2D" in found) == _has_node(loss, "UpsampleBilinear2DBackward")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        tta = TTAModel(model.eval(), "flip")(image, gsd)
    assert all(v.dtype == torch.float32 for v in tta.values())
