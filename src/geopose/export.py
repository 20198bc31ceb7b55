"""ONNX export of a geopose model, and a check of the exported file in ONNX Runtime.

The ONNX graph takes ``image`` (B×3×H×W float32 RGB in [0, 1]) and ``gsd`` (B, metres
per pixel) and returns ``agl`` (B×1×H×W m), ``mag`` (B×1×H×W px), ``scale`` (B, px/m),
``direction`` (B×2 unit (dx, dy)) and ``angle`` (B, rad) — the model contract of
DESIGN.md §4. The batch is dynamic, and so is the tile size: one file takes tiles of
any height and width that are multiples of the model's ``input_multiple`` (32 for most
models) up to ``max_size`` px. A model whose input convention resizes its input
(resolution factor ≠ 1) is exported for the one tile size given. TTA and ensembles
are left to the caller: they are loops over views and models around this graph.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from geopose.errors import UsageError
from geopose.io.atomic import atomic_path
from geopose.models import OUTPUT_KEYS

#: ONNX input names.
INPUT_NAMES = ("image", "gsd")


class _TupleOutputs(nn.Module):
    """The model with its output dict as a tuple in :data:`OUTPUT_KEYS` order."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor, gsd: Tensor) -> tuple[Tensor, ...]:
        out = self.model(image, gsd)
        return tuple(out[k] for k in OUTPUT_KEYS)


def export_model(
    model: nn.Module,
    out: str | Path,
    *,
    height: int = 512,
    width: int | None = None,
    opset: int = 18,
    max_size: int = 4096,
    exporter: str = "dynamo",
) -> Path:
    """Export ``model`` (eval mode, CPU) to ONNX file ``out``, atomically; returns ``out``.
    The export runs on a CPU copy: ``model`` itself is left on its device and in its mode.

    ``height`` × ``width`` px (multiples of the model's ``input_multiple``; ``width``
    defaults to ``height``) is the example tile traced. The graph takes any batch size
    and any tile of multiples of ``input_multiple`` up to ``max_size`` px a side —
    except for models that resize their input (resolution factor ≠ 1), whose graph keeps
    the traced size. The model's input convention is part of the graph.

    ``exporter``: ``dynamo`` (``torch.export``, the default) or ``torchscript`` (torch's
    tracing exporter: seconds instead of minutes for the largest networks, used by the
    ONNX prediction backend; its tile size is dynamic through traced shapes, so it is
    for models that do not resize their input).
    """
    if exporter not in ("dynamo", "torchscript"):
        raise UsageError(f"exporter {exporter!r}: choose dynamo or torchscript")
    w = height if width is None else width
    multiple = int(getattr(model, "input_multiple", 32))
    if height % multiple or w % multiple or height <= 0 or w <= 0:
        raise UsageError(f"ONNX tile size {height}×{w} px: use positive multiples of {multiple}")
    if max_size < max(height, w):
        raise UsageError(f"max_size {max_size} px is smaller than the tile {height}×{w} px")
    target = Path(out)
    # A CPU copy in eval mode: the caller's model keeps its device and its mode.
    wrapped = _TupleOutputs(_cpu_copy(model)).eval()
    image = torch.rand(2, 3, height, w)
    gsd = torch.tensor([0.3, 0.5])
    if exporter == "torchscript":
        with atomic_path(target) as tmp, torch.no_grad():
            _export_traced(wrapped, image, gsd, opset, dynamic_tile(model), tmp)
        return target
    with atomic_path(target) as tmp, torch.no_grad():
        try:
            program = _export(wrapped, image, gsd, opset, multiple, max_size, dynamic_tile(model))
        except Exception as err:  # a graph torch.export cannot keep symbolic: fixed size
            if not dynamic_tile(model):
                raise
            warnings.warn(
                f"{target}: the tile size could not be left dynamic ({type(err).__name__}); "
                f"the file takes {height}×{w} px tiles only",
                stacklevel=2,
            )
            program = _export(wrapped, image, gsd, opset, multiple, max_size, False)
        program.save(str(tmp))
    return target


def _cpu_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` on the CPU, made without a second copy on the GPU: the
    parameters and buffers are copied to the CPU one at a time."""
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    memo: dict[int, object] = {}
    for key, tensor in tensors.items():
        if tensor.device.type != "cpu":
            moved = tensor.detach().to("cpu")
            if isinstance(tensor, nn.Parameter):
                moved = nn.Parameter(moved, requires_grad=tensor.requires_grad)
            memo[key] = moved
    return copy.deepcopy(model, memo)


def _export(
    wrapped: nn.Module,
    image: Tensor,
    gsd: Tensor,
    opset: int,
    multiple: int,
    max_size: int,
    dynamic: bool,
) -> Any:
    """torch.onnx's program of ``wrapped``: dynamic batch, and tile when ``dynamic``."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    image_dims: dict[int, Any] = {0: batch}
    if dynamic:
        blocks = max_size // multiple
        image_dims[2] = multiple * torch.export.Dim("rows", min=1, max=blocks)
        image_dims[3] = multiple * torch.export.Dim("cols", min=1, max=blocks)
    program = torch.onnx.export(
        wrapped,
        (image, gsd),
        input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_KEYS),
        dynamic_shapes={"image": image_dims, "gsd": {0: batch}},
        opset_version=opset,
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    return program


def _export_traced(
    wrapped: nn.Module, image: Tensor, gsd: Tensor, opset: int, dynamic: bool, path: Path
) -> None:
    """torch's tracing exporter: dynamic batch, and tile when ``dynamic``."""
    image_axes = {0: "batch", 2: "rows", 3: "cols"} if dynamic else {0: "batch"}
    with warnings.catch_warnings():
        # Tracing warns about Python-level shape tests (identity resizes) and about the
        # exporter's deprecation; neither changes the graph of a non-resizing model.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (image, gsd),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_KEYS),
            dynamic_axes={"image": image_axes, "gsd": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )


def dynamic_tile(model: nn.Module) -> bool:
    """True when the exported graph takes any tile size (the model does not resize its
    input: resolution factor 1)."""
    spec = getattr(model, "spec", None)
    return spec is None or float(spec.input.resolution_factor) == 1.0


def run_onnx(path: str | Path, image: np.ndarray, gsd: np.ndarray) -> dict[str, np.ndarray]:
    """Run an exported file in ONNX Runtime (CPU): ``image`` B×3×H×W float32, ``gsd`` B."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"image": image.astype(np.float32), "gsd": gsd.astype(np.float32)}
    outputs = session.run(list(OUTPUT_KEYS), feeds)
    return dict(zip(OUTPUT_KEYS, outputs, strict=True))


def compare_onnx(
    model: nn.Module, path: str | Path, image: np.ndarray, gsd: np.ndarray
) -> dict[str, dict[str, float]]:
    """How far ONNX Runtime is from PyTorch, per output.

    ``abs``: largest ``|onnx − torch|`` (the output's unit); ``scaled``: largest
    ``|onnx − torch| / max(1, |torch|)`` — absolute for values up to 1, relative above
    (float32 carries ~7 digits, so a 60 m height is only exact to ~1e-5 m).
    """
    with torch.inference_mode():
        ref = model.eval()(torch.from_numpy(image).float(), torch.from_numpy(gsd).float())
    got = run_onnx(path, image, gsd)
    result = {}
    for key in OUTPUT_KEYS:
        want = ref[key].float().numpy().astype(np.float64)
        diff = np.abs(want - got[key].astype(np.float64))
        result[key] = {
            "abs": float(diff.max()),
            "scaled": float((diff / np.maximum(1.0, np.abs(want))).max()),
        }
    return result
