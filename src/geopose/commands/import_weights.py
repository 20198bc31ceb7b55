"""``geopose import``: a published checkpoint of the 2021 challenge → a geopose checkpoint.

Recognises the 2nd place's Catalyst files (``*_best.pth``, ``*_train.NN.pth``), the 1st
place's and the official baseline's, reads them without running code from the pickle,
maps the keys strictly and writes a format-2 safetensors checkpoint carrying the
architecture, the authors' input convention and the provenance.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from geopose.errors import EXIT_OK
from geopose.io.atomic import atomic_write_text

#: The verb's name (the module cannot be called ``import``, a Python keyword).
VERB = "import"
_HELP = "import a published checkpoint (2nd place, 1st place, baseline) as a geopose model"


def register(subparsers: Any) -> None:
    """Add the ``import`` verb to the ``geopose`` command."""
    parser = subparsers.add_parser(VERB, help=_HELP, description=_HELP)
    parser.add_argument("src", metavar="SRC", help="the published .pth file")
    parser.add_argument(
        "--out", required=True, metavar="MODEL", help="geopose checkpoint to write (.safetensors)"
    )
    parser.add_argument(
        "--arch",
        metavar="NAME",
        help="the authors' network name, overriding the one stored in a 2nd-place file "
        "(b7_unet, b6_rdtsc_unet)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write what was found as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import, print what was found (format, network, epoch, metrics, convention)."""
    from geopose.models.importer import import_published

    found = import_published(args.src, args.out, args.arch)
    summary = {**found.summary(), "source": str(args.src), "out": str(args.out)}
    metrics = ", ".join(
        f"{k}={v:.4f}" if v is not None else f"{k}=n/a" for k, v in found.metrics.items()
    )
    conv = found.network.convention
    print(f"{args.src}: {found.format} file of {found.network.team}'s {found.network.name}")
    epoch = found.epoch if found.epoch is not None else "n/a"
    print(f"  epoch {epoch}; metrics: {metrics or 'none'}")
    print(
        f"  input: {conv['channel_order']}, mean {conv['mean']}, std {conv['std']}, "
        f"resolution factor {conv['resolution_factor']}"
    )
    print(f"  wrote {args.out} (preset {found.network.preset}, {len(found.state)} tensors)")
    if args.json:
        atomic_write_text(args.json, json.dumps(summary, indent=2) + "\n")
    return EXIT_OK
