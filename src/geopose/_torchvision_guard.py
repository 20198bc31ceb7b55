"""Make ``import torchvision`` work when a CUDA torchvision sits on a CPU torch.

timm imports torchvision. On machines where the only torchvision build is a CUDA one
and torch is a CPU build, ``import torchvision`` fails with
``RuntimeError: operator torchvision::nms does not exist`` because the compiled ops
were never registered. geopose uses none of those ops, so defining their schemas is
enough for the Python package to import. A healthy install is never touched: the
schemas are defined only after that exact error.
"""

from __future__ import annotations

import sys

_MISSING_OP = "torchvision::nms does not exist"
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)
# Keep the Library object alive: dropping it would unregister the schemas.
_library = None


def _forget_partial_import() -> None:
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def ensure_torchvision() -> bool:
    """Import torchvision, defining its missing op schemas only if that is the failure.

    Returns True when the guard had to step in, False when the install was healthy
    (or torchvision is not installed at all).
    """
    global _library
    try:
        import torchvision
    except ModuleNotFoundError:
        return False
    except RuntimeError as err:
        if _MISSING_OP not in str(err):
            raise
        import torch

        _forget_partial_import()
        _library = torch.library.Library("torchvision", "DEF")
        for schema in _SCHEMAS:
            _library.define(schema)
        import torchvision  # noqa: F401

        return True
    return False
