"""``geopose models``: list the model presets with their size and cost.

For each preset: encoder, decoder, parameters (millions) and GFLOPs of one forward pass
on a 1×3×SIZE×SIZE image (default 1024 px), counted on the meta device without
allocating weights, and which published checkpoints of the 2021 challenge it imports
(``geopose import``; "-" for none).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tqdm import tqdm

from geopose.errors import EXIT_OK, UsageError
from geopose.io.atomic import atomic_write_text

_HELP = "list the model presets: parameters (M) and GFLOPs at SIZE² px"


def register(subparsers: Any) -> None:
    """Add the ``models`` verb to the ``geopose`` command."""
    parser = subparsers.add_parser("models", help=_HELP, description=_HELP)
    parser.add_argument("names", nargs="*", metavar="PRESET", help="presets to list (default: all)")
    parser.add_argument(
        "--size",
        type=int,
        default=1024,
        help="square input side in pixels for the GFLOPs count (default 1024)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the table as JSON to FILE")
    parser.set_defaults(func=run)


def format_table(rows: list[dict[str, Any]], size: int) -> str:
    """The preset table as aligned text."""
    header = (
        "name", "encoder", "decoder", "params M", f"GFLOPs@{size}²", "imports", "description"
    )  # fmt: skip
    cells = [
        (
            r["name"],
            r["encoder"],
            r["decoder"],
            f"{r['params_m']:.2f}",
            f"{r[f'gflops_{size}']:.1f}",
            ", ".join(r["imports"]) or "-",
            r["description"],
        )
        for r in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *cells]:
        lines.append(
            "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the preset table (and write it as JSON with ``--json``)."""
    from geopose.models import get_preset, list_presets
    from geopose.models.published import importable_files
    from geopose.models.summary import describe

    if args.size < 32:
        raise UsageError(f"--size must be at least 32 px, got {args.size}")
    names = args.names or list_presets()
    configs = [get_preset(n) for n in names]
    rows = [
        describe(c, args.size) for c in tqdm(configs, desc="presets", file=sys.stderr, leave=False)
    ]
    for row in rows:
        row["imports"] = importable_files(row["name"])
    print(format_table(rows, args.size))
    if args.json:
        atomic_write_text(
            args.json, json.dumps({"size": args.size, "presets": rows}, indent=2) + "\n"
        )
    return EXIT_OK
