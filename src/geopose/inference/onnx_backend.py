"""ONNX Runtime as a CPU backend for prediction: the network exported once, cached, run by ORT.

On CPUs, ONNX Runtime runs geopose's networks faster than eager PyTorch (it folds
BatchNorm into the convolutions and fuses activations; figures in
``benchmarks/predict_vs_peer.py`` and the README). :func:`onnx_network` exports a
network with :func:`geopose.export.export_model` (a graph that takes any batch and any
tile size that is a multiple of the model's ``input_multiple``), keeps the file in a
cache keyed by the network's architecture and weights, and returns an
:class:`OnnxNetwork`: a module with the model contract (DESIGN.md §4) that the TTA
wrapper, the ensemble and the predictor use like the PyTorch network.

The export uses torch's tracing exporter (about 8 s for an EfficientNet-B7 UNet on two
cores, against minutes for ``torch.export``) once per network, and the file is reused:
the cache folder is ``$GEOPOSE_CACHE``, else ``$XDG_CACHE_HOME/geopose``, else
``~/.cache/geopose``; files are written atomically and
named by the SHA-256 of the network's spec, its tensors, the torch version and the
export format version, so a changed network or torch never reuses a stale graph.

Batches run one image per core (:class:`OnnxNetwork`); where a session has several
intra-op threads they are told not to spin while they wait
(``session.intra_op.allow_spinning = 0``), as geopose tells OpenMP (passive waiting):
a spinning thread pool beside another busy process slows both many-fold.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from geopose.errors import UsageError
from geopose.export import dynamic_tile, export_model
from geopose.models import OUTPUT_KEYS

#: Bumped when the exported graph's inputs or outputs change (invalidates the cache).
EXPORT_VERSION = 1
#: Tiles of at least this many pixels return ONNX Runtime's arena memory after each run:
#: a session keeps the largest run's buffers otherwise (2 GB and more per session for
#: a 1024² B7 view, for every session alive), while for small tiles reusing them is
#: worth 15 % of the time (a 512² B7 view: 8.1 s kept, 9.3 s returned).
SHRINK_PIXELS = 1024 * 1024
#: Tile side (px) traced at export; the graph takes other multiples of the model's
#: ``input_multiple`` too.
TRACE_SIZE = 256


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def default_cache_dir() -> Path:
    """Where exported graphs are kept (module text)."""
    if os.environ.get("GEOPOSE_CACHE"):
        return Path(os.environ["GEOPOSE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "geopose"


def network_key(network: nn.Module) -> str:
    """Hex SHA-256 of what the exported graph depends on: the network's spec (when it
    has one), every parameter and buffer (name, dtype, shape, bytes), the torch version
    and :data:`EXPORT_VERSION`."""
    digest = hashlib.sha256()
    spec = getattr(network, "spec", None)
    header = {
        "export_version": EXPORT_VERSION,
        "torch": torch.__version__,
        "class": type(network).__qualname__,
        "spec": spec.to_dict() if spec is not None and hasattr(spec, "to_dict") else None,
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for name, tensor in network.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def supports_onnx(network: nn.Module) -> str | None:
    """``None`` when ``network`` can run on the ONNX backend, else the reason it cannot."""
    if not onnxruntime_available():
        return "onnxruntime is not installed (pip install onnxruntime onnx)"
    if not dynamic_tile(network):
        return "its input convention resizes the input (the graph would fix the tile size)"
    return None


class OnnxNetwork(nn.Module):
    """A network exported to ONNX, run by ONNX Runtime on the CPU, with the model contract.

    ``forward(image B×3×H×W float RGB in [0, 1], gsd B m/px)`` returns ``agl`` (m),
    ``mag`` (px), ``scale`` (px/m), ``direction`` and ``angle`` (rad) as float32 CPU
    tensors. ``input_multiple`` and ``scale_limits`` are the exported network's, so the
    TTA wrapper pads and pools exactly as it does around the PyTorch network.

    How the ``threads`` cores are used, chosen by measurement (8 D4 views of a 256² tile
    through the B7 on 2 cores: ``benchmarks/predict_vs_peer.py``): a batch of at least
    ``threads`` images runs **one image per core at a time**, each on a single-threaded
    session (8.6 s, against 10.0 s for the batch of eight on two intra-op threads and
    11.0 s for the eight one after another on two threads): no cross-core
    synchronisation inside a layer, and the memory of ``threads`` single images instead
    of the whole batch (a batch of eight 1024² B7 views needed over 20 GB). A smaller
    batch (one view, ``--tta none``) runs its images in turn on a session with
    ``threads`` intra-op threads.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        input_multiple: int,
        scale_limits: tuple[float, float],
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.threads = max(1, int(threads or torch.get_num_threads()))
        self.input_multiple = int(input_multiple)
        self.scale_limits = scale_limits
        self._single = self._session(1)
        self._wide: Any = None  # made on first use: a batch smaller than ``threads``
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def _session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    @staticmethod
    def _run_options(pixels: int) -> Any:
        """Large tiles give their memory back after each run (module text)."""
        import onnxruntime as ort

        options = ort.RunOptions()
        if pixels >= SHRINK_PIXELS:
            options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return options

    def forward(self, image: Tensor, gsd: Tensor) -> dict[str, Tensor]:
        if image.device.type != "cpu":
            raise UsageError("the ONNX backend runs on the CPU; use --backend torch on a GPU")
        x = np.ascontiguousarray(image.detach().float().numpy())
        g = np.ascontiguousarray(gsd.detach().reshape(-1).float().numpy())
        if g.shape[0] != x.shape[0]:
            g = np.broadcast_to(g, (x.shape[0],)).copy()

        run_options = self._run_options(x.shape[-2] * x.shape[-1])

        def one(i: int, session: Any) -> list[Any]:
            feeds = {"image": x[i : i + 1], "gsd": g[i : i + 1]}
            return list(session.run(list(OUTPUT_KEYS), feeds, run_options))

        n = x.shape[0]
        if self._pool is not None and n >= self.threads:
            # ONNX Runtime releases the GIL while it runs: the images run in parallel.
            results = list(self._pool.map(lambda i: one(i, self._single), range(n)))
        else:
            if self._wide is None:
                self._wide = self._session(self.threads) if self.threads > 1 else self._single
            results = [one(i, self._wide) for i in range(n)]
        return {
            key: torch.from_numpy(np.concatenate([r[k] for r in results], axis=0))
            for k, key in enumerate(OUTPUT_KEYS)
        }


def onnx_network(
    network: nn.Module,
    *,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
) -> OnnxNetwork:
    """``network`` (a geopose model) as an :class:`OnnxNetwork`, exported on first use and
    then taken from the cache (module text). Raises :class:`UsageError` with the reason
    when the network cannot run on this backend."""
    from geopose.inference.tta import scale_head_limits

    reason = supports_onnx(network)
    if reason is not None:
        raise UsageError(f"the ONNX backend cannot run this model: {reason}")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / "onnx" / f"{network_key(network)}.onnx"
    multiple = int(getattr(network, "input_multiple", 32))
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        size = max(multiple, TRACE_SIZE - TRACE_SIZE % multiple)
        export_model(network, path, height=size, exporter="torchscript")
    return _shared_network(path, multiple, scale_head_limits(network), threads)


@functools.lru_cache(maxsize=8)
def _shared_network(
    path: Path, multiple: int, limits: tuple[float, float], threads: int | None
) -> OnnxNetwork:
    """One :class:`OnnxNetwork` per graph file and thread count in a process: predictors
    built again for the same network (a TTA mode per call, say) share its sessions and
    their memory instead of holding a copy each."""
    return OnnxNetwork(path, input_multiple=multiple, scale_limits=limits, threads=threads)
