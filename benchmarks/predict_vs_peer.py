"""Prediction speed against the 2nd place's own code, side by side in one run; prints JSON.

Their network and their D4 test-time augmentation run in their own environment
(``speed_peer.py`` under ``--peer-python``, their sources fetched outside this project
into ``--sources``); geopose's matching preset runs here through the code
``geopose predict`` runs (:func:`geopose.inference.options.network_predictor`, uint8
tile in, numpy results out) with **its default options** unless ``--variants`` names
others. Both sides use the same threads and tile sizes; their timings and ours are
interleaved request by request (theirs, ours, theirs, ours, …) so a change in the
machine's speed hits both. Weights are random on both sides (speed does not depend on
them).

Reported per tile size: median seconds of one view and of D4 for each side, geopose's
bare network call (a float tensor already prepared, no TTA wrapper, no conversions) in
PyTorch (``bare``) and in ONNX Runtime (``bare-onnx``), and the ratios: ``speedup`` =
their seconds / ours (> 1: geopose is faster) and ``view_over_bare`` = geopose's one
view / the bare call of the backend it ran on (``auto``: ONNX Runtime on a CPU at fp32).

    .venv/bin/python benchmarks/predict_vs_peer.py --sizes 256,1024 --repeats 3

Exits 0 with a JSON line saying why when their sources or environment are absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import geopose  # noqa: F401  (torchvision guard before timm)
from geopose.inference.onnx_backend import onnx_network
from geopose.inference.options import PredictOptions, network_predictor
from geopose.models import create_model

HERE = Path(__file__).resolve().parent
#: Their network name → geopose's preset of the same architecture (import parity:
#: benchmarks/parity.py).
PRESETS = {"b7_unet": "b7-unet", "b6_rdtsc_unet": "b6-unet"}


class Peer:
    """Their side: a ``speed_peer.py`` process answering timing requests."""

    def __init__(self, python: Path, sources: Path, manifests: Path, net: str, threads: int):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [str(python), str(HERE / "speed_peer.py"), "--sources", str(sources),
             "--manifests", str(manifests), "--net", net, "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.info = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"their process ended (exit {self.proc.wait()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def seconds(self, mode: str, size: int, repeats: int = 1) -> list[float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"mode": mode, "size": size, "repeats": repeats}) + "\n")
        self.proc.stdin.flush()
        return list(self._answer()["seconds"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.write(json.dumps({"mode": "quit"}) + "\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def test_tile(size: int) -> np.ndarray:
    """The tile both sides predict (their ``test_image``: blobs, edges and noise)."""
    sys.path.insert(0, str(HERE))
    from parity_peer import test_image

    return test_image(size, 0)


def bench_size(
    peer: Peer, net: torch.nn.Module, size: int, repeats: int, variants: dict[str, PredictOptions]
) -> dict[str, Any]:
    tile = test_tile(size)[None]
    gsd = [0.3]
    x = torch.from_numpy(tile).permute(0, 3, 1, 2).float().div(255.0)
    g = torch.tensor(gsd)
    ours: dict[str, Callable[[], object]] = {}
    for name, opts in variants.items():
        for mode in ("none", "d4"):
            pred = network_predictor(net, _with_tta(opts, mode))
            ours[f"{name}/{'view' if mode == 'none' else 'd4'}"] = lambda p=pred: p.predict_tiles(
                tile, gsd
            )

    def bare() -> None:
        with torch.inference_mode():
            net(x, g)

    ours["bare/view"] = bare
    onnx = onnx_network(net)

    def bare_onnx() -> None:
        onnx(x, g)

    ours["bare-onnx/view"] = bare_onnx
    times: dict[str, list[float]] = {k: [] for k in ours}
    times.update({"theirs/view": [], "theirs/d4": []})
    for key, run in ours.items():  # warm-up: one view each (first calls allocate)
        if key.endswith("/view"):
            run()
    for _ in range(repeats):
        for mode in ("view", "d4"):
            times[f"theirs/{mode}"] += peer.seconds(mode, size)
            for key, run in ours.items():
                if key.endswith("/" + mode):
                    times[key].append(timed(run))
    med = {k: statistics.median(v) for k, v in times.items()}
    row: dict[str, Any] = {"size": size, "seconds": {k: round(v, 4) for k, v in med.items()}}
    row["speedup_vs_theirs"] = {
        k: round(med[f"theirs/{k.split('/')[1]}"] / v, 3)
        for k, v in med.items()
        if not k.startswith("theirs/")
    }
    # Each backend's one view against its own bare network call: the work around it.
    row["view_over_bare"] = {
        k: round(v / med["bare-onnx/view" if _on_onnx(variants, k) else "bare/view"], 3)
        for k, v in med.items()
        if k.endswith("/view") and not k.startswith(("bare", "theirs"))
    }
    return row


def _on_onnx(variants: dict[str, PredictOptions], key: str) -> bool:
    opts = variants.get(key.split("/")[0])
    return opts is not None and opts.backend in ("auto", "onnx")


def _with_tta(opts: PredictOptions, mode: str) -> PredictOptions:
    from dataclasses import replace

    return replace(opts, tta=mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=Path("/work/peers_src"))
    parser.add_argument("--peer-python", type=Path, default=Path("/work/peers_venv/bin/python"))
    parser.add_argument("--manifests", type=Path, default=HERE.parent.parent / "shared" / "peers")
    parser.add_argument("--net", default="b7_unet", choices=sorted(PRESETS))
    parser.add_argument("--sizes", default="256,1024", help="tile sides (px), comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--variants",
        default="default,torch,torch-seq,onnx-seq",
        help="geopose's option sets to time (default: the defaults; torch: eager PyTorch, "
        "views batched; torch-seq: eager, views one at a time; onnx-seq: ONNX Runtime, "
        "views one at a time)",
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    missing = [p for p in (args.sources / "bloodaxe", args.peer_python, args.manifests)
               if not p.exists()]  # fmt: skip
    if missing:
        print(json.dumps({"skipped": f"not found: {', '.join(map(str, missing))}"}))
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = create_model(PRESETS[args.net]).eval()
    every = {
        "default": PredictOptions(device="cpu", threads=args.threads),
        "torch": PredictOptions(device="cpu", threads=args.threads, backend="torch"),
        "torch-seq": PredictOptions(
            device="cpu", threads=args.threads, backend="torch", max_views_batch=1
        ),
        "onnx-seq": PredictOptions(
            device="cpu", threads=args.threads, backend="onnx", max_views_batch=1
        ),
    }
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(every))
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(every)}")
    variants = {name: every[name] for name in names}
    start = time.perf_counter()
    network_predictor(net, every["default"])  # exports the graph the ONNX backend runs
    export_s = time.perf_counter() - start
    peer = Peer(args.peer_python, args.sources, args.manifests, args.net, args.threads)
    try:
        rows = [
            bench_size(peer, net, int(s), args.repeats, variants) for s in args.sizes.split(",")
        ]
    finally:
        peer.close()
    result = {
        "net": args.net,
        "preset": PRESETS[args.net],
        "threads": args.threads,
        "cpu": _cpu_name(),
        "torch": torch.__version__,
        "their_torch": peer.info.get("torch"),
        "default_backend_setup_s": round(export_s, 1),
        "rows": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
