"""The options every verb spells the same way (one vocabulary, DESIGN.md §6).

- ``--precision {fp32,bf16,fp16,auto}`` (default ``auto``: bf16 on a capable GPU, else
  fp32), ``--device {auto,cpu,cuda,cuda:N}`` (default ``auto``), ``--threads N`` (torch
  CPU threads; default: torch's, one per core) — for verbs that run a model; they are
  resolved once, by :class:`geopose.runtime.Runtime`;
- ``--no-progress`` (no progress bars on stderr; ``--quiet`` is accepted as a hidden
  alias) and ``--json FILE`` (also write the figures as JSON).

Not a verb: the verbs import it, and it imports no verb.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: Choices of --precision (equal to geopose.precision.PRECISIONS, spelled out so that
#: ``geopose --help`` need not import torch; a test keeps them equal).
PRECISION_CHOICES = ("fp32", "bf16", "fp16", "auto")


def add_runtime_options(parser: Any, *, from_config: bool = False) -> None:
    """Add ``--precision``, ``--device`` and ``--threads``. With ``from_config`` (train)
    an option left out keeps the run config's value, whose default is the same."""
    default = None if from_config else "auto"
    suffix = " (default: the config's, auto)" if from_config else " (default: %(default)s)"
    parser.add_argument(
        "--precision",
        default=default,
        choices=PRECISION_CHOICES,
        help="fp32, bf16, fp16 (CUDA) or auto (bf16 on capable GPUs, else fp32)" + suffix,
    )
    parser.add_argument(
        "--device",
        default=default,
        metavar="DEVICE",
        help="auto (cuda:LOCAL_RANK when CUDA is available, else cpu), cpu, cuda or cuda:N"
        + suffix,
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU threads (default: "
        + ("the config's, else " if from_config else "")
        + "torch's, one per core)",
    )


def add_progress_option(parser: Any) -> None:
    """Add ``--no-progress`` (and the hidden alias ``--quiet``)."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)


def add_json_option(parser: Any, what: str = "the figures") -> None:
    """Add ``--json FILE``."""
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help=f"also write {what} as JSON to FILE"
    )
