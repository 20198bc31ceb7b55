"""Training speed beside a busy neighbour: threads × precision, idle and with one core busy.

    PYTHONPATH=src python benchmarks/busy_neighbour.py [--preset tiny-lean-gs] [--steps 30]

Each configuration runs in a fresh subprocess (OpenMP settings are fixed when torch
starts): ``--steps`` optimizer steps of the real training loop (``Trainer``) on a fixed
batch of ``--batch`` crops of ``--size`` px, after ``--warmup`` steps. Then the same
again while another process spins on one core (a Python busy loop, as any other job on
a laptop). Prints JSON: ms per step per configuration, and the slowdown the neighbour
causes. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
import torch
from geopose.config import load_config
from geopose.data.collate import collate_samples
from geopose.training.trainer import Trainer, TrainHooks

a = json.loads(sys.argv[1])
root = Path(a["root"])
overrides = [
    f"data.root={root}", "data.folds=2", f"model.preset={a['preset']}",
    f"train.batch_size={a['batch']}", f"train.crop_size={a['size']}", "train.workers=0",
    f"train.precision={a['precision']}", f"train.threads={a['threads']}", "augment.level=d4",
]
config = load_config(None, overrides)
with tempfile.TemporaryDirectory() as out:
    trainer = Trainer(config, Path(out), TrainHooks(), progress=False)
    batch = collate_samples([trainer.train_set[i] for i in range(a["batch"])])
    for _ in range(a["warmup"]):
        trainer.optimizer_step([batch])
    times = []
    for _ in range(a["steps"]):
        t = time.perf_counter()
        trainer.optimizer_step([batch])
        times.append(time.perf_counter() - t)
    trainer.close()
times.sort()
median, mean = times[len(times) // 2], sum(times) / len(times)
print(json.dumps({"ms_median": 1000 * median, "ms_mean": 1000 * mean, "ms_max": 1000 * times[-1]}))
"""


def _spin(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        x += 1


def _measure(args: argparse.Namespace, root: Path, threads: int, precision: str,
             wait_policy: str | None) -> dict[str, Any]:  # fmt: skip
    params = {
        "root": str(root), "preset": args.preset, "batch": args.batch, "size": args.size,
        "precision": precision, "threads": threads, "warmup": args.warmup, "steps": args.steps,
    }  # fmt: skip
    env = dict(os.environ)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(params)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny-lean-gs")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--precisions", default="fp32", help="comma-separated")
    args = parser.parse_args()
    from geopose.data.synth import write_dataset

    results: dict[str, Any] = {"preset": args.preset, "batch": args.batch, "size": args.size}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_dataset(root, ("JAX", "ATL"), 8, 0, args.size, 0, progress=False)
        for precision in args.precisions.split(","):
            for threads, policy in ((1, None), (2, None), (2, "PASSIVE")):
                key = f"{precision}_threads{threads}" + (f"_{policy.lower()}" if policy else "")
                idle = _measure(args, root, threads, precision, policy)
                stop = mp.Event()
                busy = mp.Process(target=_spin, args=(stop,))
                busy.start()
                time.sleep(0.5)
                try:
                    loaded = _measure(args, root, threads, precision, policy)
                finally:
                    stop.set()
                    busy.join()
                results[key] = {
                    "idle": idle,
                    "busy_core": loaded,
                    "slowdown_median": loaded["ms_median"] / idle["ms_median"],
                }
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
