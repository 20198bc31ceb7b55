"""Training state for exact resume, stored without pickle.

Optimizer, grad scaler, schedule and random-number-generator states are split into
tensors (saved with safetensors) and a JSON skeleton that says where each tensor goes.
Loading rebuilds the nested structures from the two; nothing executes code from the
file, so a run directory from elsewhere is safe to resume.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from safetensors.torch import save_file

from geopose.errors import DataError
from geopose.io.atomic import atomic_path

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"
_SKELETON_KEY = "geopose.train_state"


def _flatten(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace tensors in a nested structure by references into ``tensors``."""
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().to("cpu").contiguous().clone()
        return {_TENSOR: path}
    if isinstance(value, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(value)).clone()
        return {_TENSOR: path, "numpy": True}
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) for k in value):
            raise TypeError(f"{path}: only str/int keys can be saved")
        return {"__dict__": [[k, _flatten(v, f"{path}.{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {_TUPLE: [_flatten(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_flatten(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"{path}: cannot save a {type(value).__name__}")


def _unflatten(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(node, dict):
        if _TENSOR in node:
            tensor = tensors[node[_TENSOR]]
            return tensor.numpy() if node.get("numpy") else tensor
        if _TUPLE in node:
            return tuple(_unflatten(v, tensors) for v in node[_TUPLE])
        if "__dict__" in node:
            return {k: _unflatten(v, tensors) for k, v in node["__dict__"]}
        raise ValueError(f"unknown node {sorted(node)}")
    if isinstance(node, list):
        return [_unflatten(v, tensors) for v in node]
    return node


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Save a nested dict of tensors, arrays, numbers, strings, lists and tuples atomically."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "s", tensors)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={_SKELETON_KEY: json.dumps(skeleton)})


def pack_state(state: dict[str, Any]) -> bytes:
    """:func:`save_state`'s format as bytes (to send a state between processes)."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "s", tensors)
    return save_bytes(tensors, metadata={_SKELETON_KEY: json.dumps(skeleton)})


def unpack_state(data: bytes) -> dict[str, Any]:
    """Inverse of :func:`pack_state`."""
    tensors = load_bytes(data)
    header_len = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
    state = _unflatten(json.loads(meta[_SKELETON_KEY]), tensors)
    if not isinstance(state, dict):
        raise ValueError("packed state is not a mapping")
    return state


def load_state(path: str | Path) -> dict[str, Any]:
    """Inverse of :func:`save_state`; errors name the file."""
    p = Path(path)
    if not p.exists():
        raise DataError(p, "training state not found")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
        skeleton = json.loads(meta[_SKELETON_KEY])
        state = _unflatten(skeleton, tensors)
    except Exception as err:  # any failure here means the file is not what we wrote
        raise DataError(p, f"corrupt training state: {err}") from None
    if not isinstance(state, dict):
        raise DataError(p, "corrupt training state: top level is not a mapping")
    return state


# ----------------------------------------------------------------------------- RNG
def rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Python, NumPy (legacy global) and torch CPU generator states, and the generator
    of ``device`` when it is a CUDA GPU (only the run's own GPU: the others' are never
    drawn from, and a resume may see fewer GPUs)."""
    py_version, py_internal, py_gauss = random.getstate()
    # The legacy global NumPy generator is saved because libraries (albumentations,
    # for one) still draw from it.
    np_state: tuple[Any, ...] = tuple(np.random.get_state(legacy=True))  # noqa: NPY002
    state: dict[str, Any] = {
        "python": [py_version, list(py_internal), py_gauss],
        "numpy": {
            "kind": np_state[0],
            "keys": np_state[1],
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore what :func:`rng_state` captured; a saved CUDA generator goes to ``device``
    (the GPU of this run, whatever its index was when the state was saved).

    States written before version 0.x list every visible GPU's generator; the entry of
    ``device``'s index is restored, or none if that index was not saved."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    legacy = (n["kind"], n["keys"], n["pos"], n["has_gauss"], n["cached"])
    np.random.set_state(legacy)  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    saved = state.get("cuda")
    if saved is None or device is None or device.type != "cuda":
        return
    if isinstance(saved, (list, tuple)):  # the old format: one per visible GPU
        index = device.index or 0
        if index >= len(saved):
            return
        saved = saved[index]
    torch.cuda.set_rng_state(saved, device)
