"""How to predict: :class:`PredictOptions`, checked once, and the predictor they build.

The option names and defaults are those of ``geopose predict`` (``--tta``,
``--precision``, ``--device``, ``--threads``, ``--batch-size``, …), so the Python API and
the command line speak one vocabulary.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from geopose.errors import OutputError, UsageError
from geopose.inference.load_model import file_sha256
from geopose.inference.predictor import Predictor, build_model
from geopose.inference.tta import TTAModel, tta_views
from geopose.precision import PRECISIONS
from geopose.runtime import Runtime

#: What can run the network at prediction (``PredictOptions.backend``).
BACKENDS = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class PredictOptions:
    """How to predict; invalid values raise :class:`UsageError` at construction.

    ``tta``: none/flip/d2/d4. ``precision``: fp32/bf16/fp16/auto (auto: bf16 on a
    capable GPU, else fp32). ``device``: ``auto`` (``cuda:LOCAL_RANK`` when available,
    else CPU), ``cpu``, ``cuda`` or ``cuda:N``. ``threads``: torch CPU threads (``None``:
    torch's default). ``batch_size``: tiles or windows per forward pass (each with all
    its views). ``weights``: one per checkpoint (ensemble weights). ``window``/``overlap``:
    sliding window size and overlap in pixels (tiles up to ``window`` px run in one
    pass). ``max_views_batch``: cap on images per forward pass (views × tiles), ``None`` =
    all. ``shrink_flow``: write the scale times the TTA views' direction agreement (see
    :mod:`geopose.inference.predictor`); off by default because the scale written is
    then no longer the physical lean. ``uncertainty``: also write each image's AGL spread
    across views and members and its angle spread (:mod:`geopose.inference.uncertainty`).
    ``backend``: what runs the network — ``torch``, ``onnx`` (ONNX Runtime, CPU, fp32:
    :mod:`geopose.inference.onnx_backend`) or ``auto`` (onnx where it can run and
    onnxruntime is installed, else torch; see :func:`resolve_backend`).
    """

    tta: str = "d4"
    precision: str = "auto"
    device: str = "auto"
    threads: int | None = None
    batch_size: int = 1
    weights: tuple[float, ...] | None = None
    window: int = 2048
    overlap: int = 256
    max_views_batch: int | None = None
    shrink_flow: bool = False
    uncertainty: bool = False
    backend: str = "auto"

    def __post_init__(self) -> None:
        tta_views(self.tta)
        if self.backend not in BACKENDS:
            raise UsageError(f"--backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.precision not in PRECISIONS:
            raise UsageError(
                f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads must be ≥ 1, got {self.threads}")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be ≥ 1, got {self.batch_size}")
        if self.max_views_batch is not None and self.max_views_batch < 1:
            raise UsageError(f"--max-views-batch must be ≥ 1, got {self.max_views_batch}")
        if self.window < 32 or not 0 <= self.overlap < self.window:
            raise UsageError(
                f"--window {self.window} / --overlap {self.overlap}: need window ≥ 32 "
                "and 0 ≤ overlap < window"
            )

    def runtime(self) -> Runtime:
        """This process (torchrun's variables) with these options' device, precision and
        threads resolved."""
        return Runtime.from_env(self.device, self.precision, self.threads)


def make_predictor(
    checkpoints: Sequence[str | Path], options: PredictOptions, runtime: Runtime | None = None
) -> Predictor:
    """The :class:`Predictor` for ``checkpoints`` on ``runtime``'s device and precision
    (by default those of ``options``)."""
    runtime = runtime or options.runtime()
    if options.weights is not None and len(options.weights) != len(checkpoints):
        raise UsageError(
            f"{len(options.weights)} ensemble weights for {len(checkpoints)} checkpoints"
        )
    backend = resolve_backend(options.backend, runtime)
    model = build_model(
        checkpoints,
        tta=options.tta,
        weights=options.weights,
        device=runtime.device,
        max_batch=options.max_views_batch,
        convert=None if backend == "torch" else _onnx_converter(options, runtime),
    )
    return _predictor(model, options, runtime)


def network_predictor(
    network: nn.Module, options: PredictOptions, runtime: Runtime | None = None
) -> Predictor:
    """The :class:`Predictor` for a model already built (a ``GeoposeModel``), wrapped
    in the TTA of ``options``. The network is moved to the runtime's device and put in
    eval mode."""
    runtime = runtime or options.runtime()
    if options.weights is not None:
        raise UsageError("ensemble weights are for several checkpoints, not one model")
    net: nn.Module = network.to(runtime.device).eval()
    if resolve_backend(options.backend, runtime) == "onnx":
        net = _onnx_converter(options, runtime)(net)
    model = TTAModel(net, options.tta, max_batch=options.max_views_batch)
    return _predictor(model.eval(), options, runtime)


def resolve_backend(backend: str, runtime: Runtime) -> str:
    """``torch`` or ``onnx`` for the requested ``backend`` on ``runtime``.

    ``auto`` is ``onnx`` on a CPU at fp32 when onnxruntime is installed (it is faster
    there: README's table) and ``torch`` elsewhere; a network that the ONNX backend
    cannot run (its input convention resizes the input) falls back to torch then.
    ``onnx`` on a GPU or at bf16/fp16 is a usage error.
    """
    from geopose.inference.onnx_backend import onnxruntime_available

    cpu_fp32 = runtime.device.type == "cpu" and runtime.precision == "fp32"
    if backend == "onnx":
        if not cpu_fp32:
            raise UsageError(
                f"--backend onnx runs fp32 on the CPU; this run is {runtime.precision} on "
                f"{runtime.device} (use --backend torch)"
            )
        return "onnx"
    if backend == "auto" and cpu_fp32 and onnxruntime_available():
        return "onnx"
    return "torch"


def _onnx_converter(options: PredictOptions, runtime: Runtime) -> Callable[[nn.Module], nn.Module]:
    """Each network → its ONNX Runtime stand-in (exported once, cached); under ``auto``,
    a network the backend cannot run stays a PyTorch network."""
    from geopose.inference.onnx_backend import onnx_network, supports_onnx

    strict = options.backend == "onnx"

    def convert(network: nn.Module) -> nn.Module:
        if strict:
            return onnx_network(network, threads=options.threads)
        if supports_onnx(network) is not None:
            return network
        try:
            return onnx_network(network, threads=options.threads)
        except (OutputError, OSError) as err:
            # The graph cache is a speed-up: when it cannot be written (read-only home,
            # full disk, file-size limit) ``auto`` predicts with PyTorch instead of failing.
            print(f"geopose: the ONNX backend is not available ({err}); using torch",
                  file=sys.stderr)  # fmt: skip
            return network

    return convert


def _predictor(model: nn.Module, options: PredictOptions, runtime: Runtime) -> Predictor:
    return Predictor(
        model,
        device=runtime.device,
        precision=runtime.precision,
        batch_size=options.batch_size,
        window=options.window,
        overlap=options.overlap,
        shrink_flow=options.shrink_flow,
    )


def run_settings(
    checkpoints: Sequence[str | Path], options: PredictOptions, precision: str
) -> dict[str, Any]:
    """The settings a manifest records: what changes the written outputs (``precision``
    resolved)."""
    return {
        "checkpoints": [file_sha256(p) for p in checkpoints],
        "weights": list(options.weights) if options.weights is not None else None,
        "tta": options.tta,
        "precision": precision,
        "window": options.window,
        "overlap": options.overlap,
        "shrink_flow": options.shrink_flow,
    }
