"""Training-step throughput of the real loop (``Trainer.optimizer_step``), as JSON.

    PYTHONPATH=src python benchmarks/train_speed.py --presets tiny,b0-unet [--size 128]
    PYTHONPATH=src python benchmarks/train_speed.py --device cuda --presets b7-unet --size 512

For each model preset and each precision available on the device (fp32, bf16, and fp16
on CUDA) and with and without channels_last, it times ``--steps`` optimizer steps (after
``--warmup`` ones) on a fixed batch of synthetic tiles and prints images/s, ms per step
and peak memory, keyed ``presets.<preset>.<precision>[_channels_last]``. Ratios are
measured in one run, on one machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from geopose.config import load_config
from geopose.data.collate import collate_samples
from geopose.data.synth import write_dataset
from geopose.training.trainer import Trainer, TrainHooks


def _variants(device: str) -> list[tuple[str, bool]]:
    precisions = ["fp32", "bf16"] + (["fp16"] if device.startswith("cuda") else [])
    return [(p, cl) for p in precisions for cl in (False, True)]


def _measure(
    args: argparse.Namespace, root: Path, preset: str, precision: str, channels_last: bool
) -> dict[str, Any]:
    overrides = [
        f"data.root={root}", "data.folds=2", f"model.preset={preset}",
        f"train.batch_size={args.batch}", f"train.crop_size={args.size}", "train.workers=0",
        f"train.precision={precision}", f"train.channels_last={str(channels_last).lower()}",
        f"train.device={args.device}", "augment.level=none",
    ]  # fmt: skip
    config = load_config(None, overrides)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, Path(out), TrainHooks(), progress=False)
        batch = collate_samples([trainer.train_set[i] for i in range(args.batch)])
        device = trainer.device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(args.warmup):
            trainer.optimizer_step([batch])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.optimizer_step([batch])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        trainer.close()
    return {
        "images_per_s": args.batch * args.steps / seconds,
        "ms_per_step": 1000 * seconds / args.steps,
        "peak_mem_mb": peak,
        "skipped_steps": trainer.guard.total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument(
        "--presets", default="tiny", help="comma-separated model presets (default tiny)"
    )
    parser.add_argument("--size", type=int, default=128, help="crop side in px (default 128)")
    parser.add_argument("--batch", type=int, default=4, help="images per step (default 4)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("CUDA is not available here", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_dataset(root, ["JAX", "OMA"], 2 * args.batch, 0, args.size, seed=0, progress=False)
        results: dict[str, dict[str, Any]] = {}
        for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
            print(f"timing {preset}", file=sys.stderr, flush=True)
            results[preset] = {
                f"{p}_channels_last" if cl else p: _measure(args, root, preset, p, cl)
                for p, cl in _variants(args.device)
            }
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    report = {
        "benchmark": "train_speed",
        "device": device_name,
        "threads": torch.get_num_threads(),
        "size": args.size,
        "batch": args.batch,
        "presets": results,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
