"""geopose: monocular geocentric pose (AGL, vertical-flow angle and scale) from overhead RGB.

The public API (:mod:`geopose.api`) is reachable from here: ``geopose.load_model``,
``geopose.create_model``, ``geopose.list_models``, ``geopose.read_tile``,
``geopose.score``, ``geopose.rectify``, ``geopose.synth``, ``geopose.train``. Those
names are loaded on first use (PEP 562), so ``import geopose`` stays light.
"""

import os
from typing import TYPE_CHECKING, Any

# OpenMP threads that finish a parallel region early spin while they wait for the others
# (libgomp's default "active" policy). When another process keeps a core busy, a spinning
# torch thread and the descheduled one stall each other: a 2-thread training step of the
# demo model took 3.5x longer beside a busy core, against 1.6x with passive waiting and
# 1.1x with one thread, at a cost of 8 % on an idle machine
# (benchmarks/busy_neighbour.py, docs/accuracy.md). libgomp reads this once, when torch
# loads, so it is set here, before anything imports torch; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from geopose._torchvision_guard import ensure_torchvision

ensure_torchvision()

__version__ = "0.1.0"

#: The public API's names, served from geopose.api on first use.
_API = (
    "Model",
    "PoseResult",
    "create_model",
    "list_models",
    "load_model",
    "read_tile",
    "rectify",
    "score",
    "synth",
    "train",
)
__all__ = ["__version__", *_API]

if TYPE_CHECKING:  # the names for type checkers and IDEs; at run time __getattr__
    from geopose.api import Model as Model
    from geopose.api import PoseResult as PoseResult
    from geopose.api import create_model as create_model
    from geopose.api import list_models as list_models
    from geopose.api import load_model as load_model
    from geopose.api import read_tile as read_tile
    from geopose.api import rectify as rectify
    from geopose.api import score as score
    from geopose.api import synth as synth
    from geopose.api import train as train


def __getattr__(name: str) -> Any:
    """Load a public API name from :mod:`geopose.api` on first use (PEP 562)."""
    if name in _API:
        from geopose import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'geopose' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
