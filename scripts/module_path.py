"""Which geopose modules `geopose train` and `geopose predict` pass through.

    python scripts/module_path.py [--src SRC]     (SRC: another checkout's src/ to measure)

Makes a tiny synthetic layout and a 2-step tiny run in a temporary folder, then runs
each verb under a profile hook and prints one JSON object: for ``train`` up to the first
optimizer step, for ``predict`` up to the first written prediction file,

- ``modules``: the geopose modules whose functions ran, in first-call order (calls made
  while a module is being imported are left out);
- ``stack``: the geopose modules on the call stack at that moment.

docs/architecture.md quotes its figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

CO_OPTIMIZED = 0x1


class _Done(BaseException):
    """Ends the traced verb at its milestone (not an Exception: the CLI must not catch it)."""


def _trace(verb: str, argv: list[str]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    order: list[str] = []
    state: dict[str, Any] = {"frame": None, "stack": []}

    def importing(frame: FrameType | None) -> bool:
        while frame is not None:
            if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") != "__main__":
                return True
            frame = frame.f_back
        return False

    def stack(frame: FrameType | None) -> list[str]:
        names: list[str] = []
        while frame is not None:
            name = frame.f_globals.get("__name__", "")
            if name.startswith("geopose") and (not names or names[-1] != name):
                names.append(name)
            frame = frame.f_back
        return names[::-1]

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        code, name = frame.f_code, frame.f_globals.get("__name__", "")
        if event == "call":
            new = name.startswith("geopose") and name not in order
            if new and code.co_flags & CO_OPTIMIZED and not importing(frame):
                order.append(name)
            if verb == "train" and code.co_name == "step" and "torch/optim/" in code.co_filename:
                state["stack"] = stack(frame)
                raise _Done
            if name == "geopose.io.submission" and code.co_name == "write_prediction":
                state["frame"], state["stack"] = frame, stack(frame)
        elif event == "return" and frame is state["frame"]:
            raise _Done

    from geopose.cli import main

    sys.setprofile(profile)
    try:
        main([verb, *argv])
    except _Done:
        pass
    finally:
        sys.setprofile(None)
    return {"modules": order, "stack": state["stack"]}


def _child(src: str | None, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if src:
        env["PYTHONPATH"] = src
    cmd = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    if "--debug" in sys.argv:
        print(done.stderr[-2000:], file=sys.stderr)
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        verb, *argv = sys.argv[2:]
        if verb == "setup":
            from geopose.data.synth import write_dataset

            write_dataset(argv[0], ["JAX", "OMA"], 6, 1, 64, seed=3, workers=1, progress=False)
            print("ok")
            return
        if verb == "run":  # a plain run, not traced
            from geopose.cli import main as geopose

            print(geopose(argv))
            return
        print(json.dumps(_trace(verb, argv)))
        return
    src = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv else None
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        data, run = t / "data", t / "run"
        train = ["--data", str(data), "--config", "tiny", "--no-progress", "data.folds=4"]
        train += ["train.batch_size=3", "train.workers=0", "train.crop_size=32"]
        _child(None, "setup", str(data))
        _child(None, "run", "train", "--out", str(run), *train, "train.max_steps=2")
        figures = {"train": json.loads(_child(src, "train", "--out", str(t / "r2"), *train))}
        ckpt = str(run / "checkpoints" / "last.safetensors")
        predict = ["--checkpoint", ckpt, "--data", str(data), "--out", str(t / "pred")]
        # --quiet: the spelling both old and new checkouts accept
        predict += ["--tta", "none", "--device", "cpu", "--quiet"]
        figures["predict"] = json.loads(_child(src, "predict", *predict))
    for fig in figures.values():
        fig["count"] = len(fig["modules"])
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
