"""geopose: monocular geocentric pose (AGL, vertical-flow angle and scale) from overhead RGB."""

import os

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
__all__ = ["__version__"]
