"""Run the benchmark suite, keep each script's JSON, print one summary table.

Each ``benchmarks/*_speed.py`` script prints one JSON object on stdout. This runner
runs them in turn (one at a time: they time themselves, and two at once would share
the cores), writes ``benchmarks/results/<name>.json`` with the machine it ran on, and
prints a table of every numeric figure. ``--device cuda`` is passed on to the scripts
that take a ``--device`` option.

    python benchmarks/run_all.py [--quick] [--device cpu|cuda] [--only synth,augment]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# Arguments that keep each script to a minute or two on a 2-core CPU (--quick: seconds).
FULL_ARGS: dict[str, list[str]] = {
    "synth_speed": ["--repeats", "1"],
    "augment_speed": ["--samples", "100"],
    "check_speed": ["--tiles", "4", "--repeats", "1"],
    "model_speed": [],
    "rectify_speed": [],
    "data_speed": [],
    "train_speed": ["--presets", "tiny,b0-unet,b7-unet", "--steps", "3", "--warmup", "1"],
    "predict_speed": ["--preset", "tiny", "--repeats", "2"],
}
QUICK_ARGS: dict[str, list[str]] = {
    "synth_speed": ["--size", "512", "--repeats", "1"],
    "augment_speed": ["--samples", "10"],
    "check_speed": ["--tiles", "2", "--size", "512", "--repeats", "1"],
    "model_speed": ["--runs", "2"],
    "rectify_speed": ["--size", "256", "--repeats", "1"],
    "data_speed": ["--size", "256", "--crop", "128", "--tiles", "2", "--samples", "5"],
    "train_speed": ["--presets", "tiny", "--steps", "2", "--warmup", "1"],
    "predict_speed": ["--size", "128", "--repeats", "1", "--modes", "none,d4"],
}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return info


def accepts_device(script: Path) -> bool:
    return "--device" in script.read_text(encoding="utf-8")


def last_json(stdout: str) -> dict[str, Any]:
    """The JSON object a script printed (the last top-level ``{`` to the end)."""
    start = stdout.rfind("\n{")
    text = stdout[start + 1 :] if start >= 0 else stdout
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("benchmark output is not a JSON object")
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested JSON as ``a.b.c: number``."""
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, child in value.items():
            out.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        # Rows of a table: name each by its text fields (e.g. "d4/bf16"), else its index.
        for i, child in enumerate(value):
            label = str(i)
            if isinstance(child, dict):
                words = [str(v) for v in child.values() if isinstance(v, str)]
                label = "/".join(words) or label
            out.update(flatten(child, f"{prefix}.{label}" if prefix else label))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = float(value)
    return out


def is_figure(key: str) -> bool:
    """A measured figure (a time, a rate or a ratio), not a parameter echoed back: some
    part of its dotted key names a unit or a ratio (``ms_per_sample.d4.mean`` is one)."""
    markers = ("per_s", "per_1000", "speedup", "ratio", "_over_", "images_s")
    return any(
        part.endswith(("_s", "_ms")) or any(m in part for m in markers) for part in key.split(".")
    )


def run_one(script: Path, args: list[str], timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"{script.name} exited {proc.returncode}: {' | '.join(tail)}")
    return {"figures": last_json(proc.stdout), "args": args, "wall_s": round(elapsed, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (for scripts that take it)")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. synth,augment")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per script")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON files")
    args = parser.parse_args()

    scripts = sorted(HERE.glob("*_speed.py"))
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    if wanted:
        scripts = [s for s in scripts if s.stem.removesuffix("_speed") in wanted]
    table = QUICK_ARGS if args.quick else FULL_ARGS
    args.out.mkdir(parents=True, exist_ok=True)
    host = machine()
    failures = 0
    rows: list[tuple[str, str, float]] = []
    for script in scripts:
        extra = list(table.get(script.stem, []))
        if accepts_device(script):
            extra += ["--device", args.device]
        print(f"running {script.name} {' '.join(extra)}", file=sys.stderr, flush=True)
        try:
            result = run_one(script, extra, args.timeout)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as err:
            print(f"  FAILED: {err}", file=sys.stderr)
            failures += 1
            continue
        record = {"benchmark": script.stem, "machine": host, **result}
        path = args.out / f"{script.stem}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        for key, number in flatten(result["figures"]).items():
            if is_figure(key):
                rows.append((script.stem.removesuffix("_speed"), key, number))

    print(
        f"machine: {host['processor']}, {host['cpu_count']} cores, "
        f"{host.get('gpu', 'no GPU')}, torch {host.get('torch')}"
    )
    print("| benchmark | figure | value |\n|---|---|---|")
    for name, key, number in rows:
        print(f"| {name} | {key} | {number:.4g} |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
