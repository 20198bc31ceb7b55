"""Helpers of ``scripts/gpu-check.sh``: the precision loss curves, and the final table.

python scripts/gpu_check.py curves OUT   # 300 steps each in fp32, bf16 and fp16
python scripts/gpu_check.py table OUT    # one Markdown table of everything in OUT
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

STEPS = 300
PRECISIONS = ("fp32", "bf16", "fp16")


def curves(out: Path) -> None:
    """Train the same run (data, seed, model) in each precision; per-step losses to JSON."""
    from geopose.config import load_config
    from geopose.training.recipes import recipe_path
    from geopose.training.trainer import StepStatus, Trainer, TrainHooks

    result: dict[str, Any] = {}
    for precision in PRECISIONS:
        losses: list[float] = []

        def keep(status: StepStatus, into: list[float] = losses) -> None:
            into.append(status.loss)

        overrides = [
            f"data.root={out / 'data'}", "data.folds=8", "train.batch_size=8",
            "train.crop_size=128", "train.workers=2", f"train.max_steps={STEPS}",
            f"train.precision={precision}", "train.seed=0", "train.epochs=1000",
            "model.preset=tiny-lean-gs",
        ]  # fmt: skip
        config = load_config(recipe_path("tiny"), overrides)
        trainer = Trainer(config, out / f"curve-{precision}", TrainHooks(on_step=keep), False)
        try:
            run = trainer.run(resume=False)
        finally:
            trainer.close()
        result[precision] = {
            "losses": losses,
            "skipped": run.skipped_steps,
            "score": run.score,
            "seconds": run.seconds,
        }
        print(f"{precision}: {len(losses)} steps, {run.seconds:.0f} s", file=sys.stderr)
    (out / "curves.json").write_text(json.dumps(result))


def _rc(out: Path, name: str) -> str:
    path = out / f"{name}.rc"
    if not path.exists():
        return "not run"
    code = path.read_text().strip()
    return "ok" if code == "0" else f"FAILED (exit {code}, see {name}.log)"


def _tail_line(path: Path) -> str:
    lines = [x for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    return lines[-1].strip() if lines else ""


def _finite_mean(values: list[float]) -> float:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(kept) if kept else math.nan


def table(out: Path) -> None:
    rows: list[tuple[str, str]] = []
    rows.append(("GPU tests (pytest -m gpu)", f"{_rc(out, 'pytest-gpu')}: "
                 f"{_tail_line(out / 'pytest-gpu.log')}"))  # fmt: skip
    if (out / "ddp-train.rc").exists():
        written = len(list((out / "ddp-predict").glob("*_AGL.tif")))
        tar = (out / "ddp-predict" / "submission.tar.gz").exists()
        rows.append(("torchrun 2 GPUs: train", _rc(out, "ddp-train")))
        archive = "yes" if tar else "no"
        result = f"{_rc(out, 'ddp-predict')}; {written} tiles, archive {archive}"
        rows.append(("torchrun 2 GPUs: predict --tar", result))
    else:
        rows.append(("torchrun 2 GPUs", "skipped (fewer than 2 GPUs visible)"))
    curves_file = out / "curves.json"
    if curves_file.exists():
        data = json.loads(curves_file.read_text())
        ref = data.get("fp32", {})
        ref_last = _finite_mean(ref.get("losses", [])[-50:])
        for precision, run in data.items():
            last = _finite_mean(run["losses"][-50:])
            ratio = last / ref_last if ref_last and math.isfinite(ref_last) else math.nan
            mean = _finite_mean(run["losses"])
            rows.append((
                f"loss {precision}, {STEPS} steps",
                f"mean of last 50 {last:.4g} (×{ratio:.3f} of fp32), mean {mean:.4g}, "
                f"skipped {run['skipped']}, val score {run['score']}, {run['seconds']:.0f} s",
            ))  # fmt: skip
    else:
        rows.append(("loss curves", _rc(out, "curves")))
    speed = out / "train_speed.json"
    if speed.exists() and speed.stat().st_size:
        report = json.loads(speed.read_text())
        for preset, variants in report.get("presets", {}).items():
            cells = ", ".join(
                f"{name} {v.get('images_per_s', float('nan')):.1f}" for name, v in variants.items()
            )
            rows.append((f"train img/s {preset}", cells))
    else:
        rows.append(("train speed", _rc(out, "train_speed")))
    pred = out / "predict_speed.json"
    if pred.exists():
        report = json.loads(pred.read_text())
        modes = report.get("modes", {})
        cells = json.dumps(modes, sort_keys=True)[:300]
        rows.append(("predict tiles/s (b0-unet 512 px)", cells))
    else:
        rows.append(("predict speed", _rc(out, "predict_speed")))
    print("| check | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value.replace('|', '/')} |")


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("curves", "table"):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[2])
    curves(out) if sys.argv[1] == "curves" else table(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
