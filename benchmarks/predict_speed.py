"""Prediction speed: tiles/s per TTA mode and precision, batched vs sequential views; JSON.

Everything is measured in one run (so ratios hold on a busy machine), with random
weights (speed does not depend on them), in eval mode under ``torch.inference_mode``,
through :class:`geopose.inference.predictor.Predictor` — the code ``geopose predict`` runs.

- ``modes``: tiles/s for every ``--modes`` × ``--precisions`` pair (all views of a tile
  in one forward pass).
- ``batched_vs_sequential``: D4 with all eight views in one batch against the same
  eight views one at a time (``max_views_batch=1``), timed interleaved; the ratio is
  sequential time / batched time.
- ``--second-place`` (meant for a GPU): ``--big-preset`` (default ``b7-unet``) on one
  ``--big-size`` (default 2048) tile with D4: ours (bf16, views batched) against the 2nd
  place's way (fp32, batch 1, views in turn), in one run.

    PYTHONPATH=src python benchmarks/predict_speed.py --device cpu --preset tiny --size 256
    PYTHONPATH=src python benchmarks/predict_speed.py --device cuda --preset b0-unet \\
        --size 1024 --precisions fp32,bf16,fp16 --second-place
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

import geopose  # noqa: F401  (torchvision guard before timm)
from geopose.inference.predictor import Predictor
from geopose.inference.tta import TTAModel
from geopose.models import create_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_predictor(
    model: torch.nn.Module, mode: str, precision: str, device: torch.device, views_batch: int | None
) -> Predictor:
    """A predictor around ``model`` (shared weights) with one TTA mode and precision."""
    tta = TTAModel(model, mode, max_batch=views_batch)
    return Predictor(tta, device=device, precision=precision, batch_size=1, window=1 << 16)


def seconds_per_tile(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time (s) of ``run`` after one warm-up call."""
    run()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_modes(
    model: torch.nn.Module,
    tile: np.ndarray,
    device: torch.device,
    modes: list[str],
    precisions: list[str],
    repeats: int,
) -> list[dict[str, object]]:
    """tiles/s of every (mode, precision) pair."""
    rows = []
    for precision in precisions:
        for mode in modes:
            pred = make_predictor(model, mode, precision, device, None)
            s = seconds_per_tile(lambda p=pred: p.predict_tiles(tile, [0.35]), device, repeats)
            rows.append(
                {
                    "tta": mode,
                    "precision": precision,
                    "s_per_tile": round(s, 4),
                    "tiles_per_s": round(1.0 / s, 3),
                }
            )
    return rows


def bench_batched_vs_sequential(
    model: torch.nn.Module, tile: np.ndarray, device: torch.device, precision: str, repeats: int
) -> dict[str, object]:
    """D4 views in one batch vs one at a time, timed interleaved."""
    batched = make_predictor(model, "d4", precision, device, None)
    sequential = make_predictor(model, "d4", precision, device, 1)
    for p in (batched, sequential):
        p.predict_tiles(tile, [0.35])
    tb, ts = [], []
    for _ in range(repeats):
        for pred, times in ((batched, tb), (sequential, ts)):
            _sync(device)
            start = time.perf_counter()
            pred.predict_tiles(tile, [0.35])
            _sync(device)
            times.append(time.perf_counter() - start)
    b, s = statistics.median(tb), statistics.median(ts)
    return {
        "precision": precision,
        "batched_s": round(b, 4),
        "sequential_s": round(s, 4),
        "sequential_over_batched": round(s / b, 3),
    }


def bench_second_place(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    """Ours (bf16, views batched) vs the 2nd place's way (fp32, batch 1, views in turn)."""
    model = create_model(args.big_preset).to(device).eval()
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (1, args.big_size, args.big_size, 3), dtype=np.uint8)
    ours = make_predictor(model, "d4", "bf16", device, None)
    theirs = make_predictor(model, "d4", "fp32", device, 1)
    t_ours = seconds_per_tile(lambda: ours.predict_tiles(tile, [0.35]), device, args.repeats)
    t_theirs = seconds_per_tile(lambda: theirs.predict_tiles(tile, [0.35]), device, args.repeats)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "preset": args.big_preset,
        "size": args.big_size,
        "tta": "d4",
        "ours_bf16_batched_s": round(t_ours, 4),
        "second_place_fp32_sequential_s": round(t_theirs, 4),
        "speedup": round(t_theirs / t_ours, 3),
        "peak_mem_mb": round(peak, 1) if peak is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--preset", default="tiny", help="model preset for the mode table")
    parser.add_argument("--size", type=int, default=256, help="tile side in pixels")
    parser.add_argument("--modes", default="none,flip,d2,d4")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--second-place", action="store_true", help="also the big-tile comparison")
    parser.add_argument("--big-preset", default="b7-unet")
    parser.add_argument("--big-size", type=int, default=2048)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = create_model(args.preset).to(device).eval()
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (1, args.size, args.size, 3), dtype=np.uint8)
    precisions = args.precisions.split(",")
    result: dict[str, object] = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "preset": args.preset,
        "size": args.size,
        "modes": bench_modes(model, tile, device, args.modes.split(","), precisions, args.repeats),
        "batched_vs_sequential": bench_batched_vs_sequential(
            model, tile, device, precisions[0], args.repeats
        ),
    }
    if args.second_place:
        result["second_place"] = bench_second_place(args, device)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
