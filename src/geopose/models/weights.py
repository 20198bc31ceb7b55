"""Reading weight files and loading them strictly.

Weights are ``*.safetensors`` files or PyTorch state dicts read with
``torch.load(weights_only=True)`` — never arbitrary pickles. Loading is strict: missing
keys, unexpected keys and shape mismatches raise :class:`geopose.errors.DataError`
naming the file and the offending keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from geopose.errors import DataError

_MAX_NAMED = 8


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a flat ``name → tensor`` mapping from a safetensors or torch file (on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: object = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except DataError:
        raise
    except Exception as err:  # any reader failure is a bad file
        raise DataError(path, f"cannot read weights: {type(err).__name__}: {err}") from err
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise DataError(path, "not a flat state dict of tensors (name -> tensor)")
    return dict(state)


def _names(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:_MAX_NAMED])
    more = len(keys) - _MAX_NAMED
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def key_problems(
    expected: Mapping[str, tuple[int, ...]], state: Mapping[str, Tensor], what: str = "model"
) -> list[str]:
    """What keeps ``state`` from matching ``expected`` (key → shape): missing and
    unexpected keys and shape mismatches, a few named each; empty when they match."""
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    problems = []
    if missing:
        problems.append(f"missing keys: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_names(unexpected)}")
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {what} {shape}"
        for k, shape in expected.items()
        if k in state and tuple(state[k].shape) != shape
    ]
    if wrong:
        problems.append(f"shape mismatch: {'; '.join(wrong[:_MAX_NAMED])}")
    return problems


def check_state_dict(module: nn.Module, state: Mapping[str, Tensor], path: str | Path) -> None:
    """Raise DataError unless ``state`` has exactly ``module``'s keys with the same shapes."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    problems = key_problems(expected, state)
    if problems:
        raise DataError(path, "; ".join(problems))


def load_strict(module: nn.Module, state: Mapping[str, Tensor], path: str | Path) -> None:
    """Check ``state`` against ``module`` (see :func:`check_state_dict`), then load it."""
    check_state_dict(module, state, path)
    on_meta = any(p.is_meta for p in module.parameters())
    module.load_state_dict(state, strict=True, assign=on_meta)


def load_weights_file(module: nn.Module, path: str | Path) -> None:
    """Load a whole-module weights file strictly."""
    load_strict(module, read_state_dict(path), path)
