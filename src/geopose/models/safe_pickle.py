"""Reading a stranger's PyTorch pickle without running any of its code.

Published checkpoints (``*.pth``) are pickles, and a pickle can name any importable
callable and call it while it is read. :func:`read_torch_pickle` reads them with
``torch.load(weights_only=True)`` — torch's restricted unpickler, which only rebuilds
tensors and plain containers — plus an explicit allow-list of the numpy reconstructors
that checkpoints written by training frameworks contain (metrics stored as numpy
scalars): ``numpy.core.multiarray.scalar`` (numpy 1.x files) and
``numpy._core.multiarray.scalar`` (numpy 2.x), the array reconstructor under both names,
``numpy.ndarray``, ``numpy.dtype`` and numpy's dtype classes. None of these runs code
named by the file. Any other global is refused before anything is called, and the error
names it in one line.

Both the zip format (torch ≥ 1.6) and the legacy non-zip format are read.
"""

from __future__ import annotations

import _compat_pickle
import pickle
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geopose.errors import DataError

#: The module paths under which numpy's array reconstructors appear in pickles.
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")

_REFUSED = re.compile(r"(?:GLOBAL|global) ([\w.]+)")


def _numpy_allow_list() -> list[Any]:
    """``(object, "module.name")`` pairs of the numpy reconstructors we accept."""
    core: Any = getattr(np, "_core", None) or np.core
    multiarray: Any = core.multiarray
    allowed: list[Any] = []
    for module in _NUMPY_MODULES:
        allowed.append((multiarray.scalar, f"{module}.scalar"))
        allowed.append((multiarray._reconstruct, f"{module}._reconstruct"))
    allowed.append((np.ndarray, "numpy.ndarray"))
    allowed.append((np.dtype, "numpy.dtype"))
    # Rebuilding a dtype calls __setstate__ on an instance of its dtype class; torch's
    # unpickler allows that only for allow-listed types.
    for name in dir(np.dtypes):
        cls = getattr(np.dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            allowed.append((cls, f"numpy.dtypes.{name}"))
    return allowed


def allowed_globals() -> list[str]:
    """Names of the globals accepted beyond torch's own tensor rebuilders (for messages)."""
    return [name for _, name in _numpy_allow_list()]


def _refusal(path: Path, names: list[str]) -> DataError:
    return DataError(
        path,
        f"refused: the pickle calls {', '.join(names)} (not on the allow-list: "
        "only tensors, plain containers and numpy scalars/dtypes are read; "
        "nothing from the file was executed)",
    )


def _python3_name(module: str, name: str) -> str:
    """``module.name`` as Python 3 resolves it (protocol-2 pickles use Python 2 names)."""
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return f"{module}.{name}"


def _legacy_globals(path: Path) -> list[str]:
    """Globals named by the pickles at the start of a legacy (non-zip) torch file.

    The legacy format is five pickles in a row (magic number, protocol, system info,
    the object, the storage keys) followed by raw storage bytes; their opcodes are
    listed, never executed.
    """
    names: list[str] = []
    with path.open("rb") as f:
        for _ in range(5):
            strings: list[str] = []
            for opcode, arg, _pos in pickletools.genops(f):
                if opcode.name == "GLOBAL":
                    module, _, name = str(arg).partition(" ")
                    names.append(_python3_name(module, name))
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str):
                    strings.append(arg)
    return names


def _refuse_unsafe_globals(path: Path, allowed: set[str]) -> None:
    """Scan a zip-format file's pickle opcodes (nothing runs) and refuse foreign globals."""
    try:
        if zipfile.is_zipfile(path):
            found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        else:
            # torch's restricted unpickler allows its tensor rebuilders by default
            from torch import _weights_only_unpickler as wou

            found = [n for n in _legacy_globals(path) if n not in wou._get_allowed_globals()]
    except Exception:  # unreadable files are reported by the load below
        return
    refused = sorted(set(found) - allowed)
    if refused:
        raise _refusal(path, refused)


def read_torch_pickle(path: str | Path) -> Any:
    """Read a ``torch.save`` file on the CPU without executing code from it.

    Raises DataError naming the file: not found, not a torch file, or a pickle that
    names a global outside the allow-list (the global is named; nothing was called).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    allowed = _numpy_allow_list()
    _refuse_unsafe_globals(path, {name for _, name in allowed})
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as err:
        found = _REFUSED.search(str(err))
        if found:
            raise _refusal(path, [found.group(1)]) from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(path, f"not a readable torch checkpoint: {first}") from None
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(path, f"not a readable torch checkpoint: {first}") from None
