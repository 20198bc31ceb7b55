"""Kill-and-rerun trials of ``geopose train`` and ``geopose predict`` (run as a script).

    python fault_driver.py train   --data DIR --work DIR --trials N --steps S --seed K
    python fault_driver.py train-ddp --data DIR --work DIR --trials N --steps S --seed K
    python fault_driver.py predict --data DIR --work DIR --trials N --ckpt FILE --seed K

The driver imports geopose once, then runs every job in a forked child process (the
real command, ``geopose.cli.main``), so a trial does not pay Python's and torch's
start-up again. A trial starts the job, waits until it has reached a randomly drawn
point (a training step, or a number of predicted images), waits a random fraction of
a step longer, and kills the child with SIGKILL — no clean-up runs. It then reruns the
job (``train --resume`` when a checkpoint exists, else the original command; the same
``predict`` command) to the end. One uninterrupted run is the reference. Prints one
JSON object: per trial the kill point and whether the final files equal the
reference's exactly.

``train-ddp`` runs the same trials under ``torchrun --nproc_per_node 2`` (gloo, one
thread a process): the whole job — torchrun and both ranks — is SIGKILLed at once, as
when a machine loses power or the job is killed by its scheduler, and ``torchrun …
train --resume`` finishes it; the reference is an uninterrupted two-process run. (Too
slow for the suite, whose two-process case is one deterministic kill of one rank:
``tests/training/test_distributed.py``; docs/reliability.md has this mode's result.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from geopose.checkpoint import load_checkpoint, read_checkpoint_header
from geopose.cli import main
from geopose.io.raster import read_agl_cm

torch.set_num_threads(1)


def _child(argv: list[str]) -> int:
    """Fork, run ``geopose ARGV`` in the child (output to /dev/null); return its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        code = 99
        try:
            code = main(argv)
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _run(argv: list[str]) -> int:
    return _wait(_child(argv))


def _kill_when(pid: int, reached: Callable[[], bool], extra_s: float) -> bool:
    """SIGKILL ``pid`` ``extra_s`` after ``reached()`` turns true; False when the child
    ended by itself first."""
    while not reached():
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
        time.sleep(0.01)
    time.sleep(extra_s)
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done:
        return False
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return True


def _timed(argv: list[str], progress: Callable[[], int]) -> tuple[float, float]:
    """Run ``argv`` to the end, watching ``progress()`` (units done); return the seconds
    to the first unit and the seconds per unit after it."""
    start = time.monotonic()
    pid = _child(argv)
    first = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if first is None and progress() >= 1:
            first = time.monotonic()
        if done:
            assert os.waitstatus_to_exitcode(status) == 0, f"reference run failed: {argv}"
            break
        time.sleep(0.01)
    end = time.monotonic()
    first = first if first is not None else end
    units = max(progress() - 1, 1)
    return first - start, (end - first) / units


def _trial(
    argv: list[str],
    progress: Callable[[], int],
    target: int,
    wait: tuple[float, float],
    rng: random.Random,
    folder: Path,
    tries: int = 4,
) -> tuple[bool, int]:
    """Start ``argv`` writing into the empty ``folder``; SIGKILL it a random time within
    the unit after ``target`` units (within the start-up when ``target`` is 0). Tried
    again from an empty folder, one unit earlier (up to ``tries`` times), when the job
    ends before the kill. Returns (killed, units done at the kill)."""
    for _ in range(tries):
        shutil.rmtree(folder, ignore_errors=True)
        pid = _child(argv)
        delay = rng.uniform(0, wait[0] if target == 0 else wait[1])
        if _kill_when(pid, lambda t=target: t == 0 or progress() >= t, delay):
            return True, progress()
        target = max(target - 1, 0)
    return False, progress()


# ----------------------------------------------------------------------------- train
def _train_argv(data: Path, run: Path, steps: int) -> list[str]:
    return [
        "train", "--data", str(data), "--out", str(run), "--config", "tiny", "--no-progress",
        f"train.max_steps={steps}", "train.checkpoint_every=1", "train.workers=0",
        "train.crop_size=32", "train.batch_size=2", "data.folds=2", "train.threads=1",
    ]  # fmt: skip


def _saved_step(run: Path) -> int:
    try:
        return int(read_checkpoint_header(run / "checkpoints" / "last.safetensors").extra["step"])
    except Exception:  # not written yet (or being renamed)
        return -1


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / "last.safetensors")[0]


def _train_outcome(
    run: Path, want: dict[str, torch.Tensor], trial: int, killed: bool, at: int, code: int
) -> dict:
    """One training trial's record: where it was killed, and whether the rerun ended at
    the last step with exactly the reference's weights."""
    got = _weights(run)
    same = set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    return {
        "trial": trial,
        "killed": killed,
        "saved_step_at_kill": at,
        "rerun_exit": code,
        "final_step": _saved_step(run),
        "identical": bool(same),
    }


def train_trials(data: Path, work: Path, trials: int, steps: int, rng: random.Random) -> dict:
    ref = work / "reference"
    wait = _timed(_train_argv(data, ref, steps), lambda: _saved_step(ref))
    want = _weights(ref)
    results = []
    for trial in range(trials):
        run = work / f"trial{trial}"
        target = rng.randint(0, steps - 1)  # 0: before the first checkpoint
        killed, at = _trial(
            _train_argv(data, run, steps), lambda r=run: _saved_step(r), target, wait, rng, run
        )
        if (run / "checkpoints" / "last.safetensors").exists():
            code = _run(["train", "--resume", str(run), "--no-progress"])
        else:
            code = _run(_train_argv(data, run, steps))
        results.append(_train_outcome(run, want, trial, killed, at, code))
    return {"steps": steps, "trials": results}


# ----------------------------------------------------------------- train, two processes
def _torchrun(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start ``torchrun --nproc_per_node 2 -m geopose ARGV`` (output to /dev/null)."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
        "2", "-m", "geopose", *argv,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def ddp_train_trials(data: Path, work: Path, trials: int, steps: int, rng: random.Random) -> dict:
    ref = work / "reference"
    proc = _torchrun(_train_argv(data, ref, steps))
    first = None
    while proc.poll() is None:
        if first is None and _saved_step(ref) >= 1:
            first = time.monotonic()
        time.sleep(0.01)
    if proc.returncode != 0:
        raise SystemExit(f"reference run failed with exit code {proc.returncode}")
    per_step = (time.monotonic() - (first or time.monotonic())) / max(steps - 1, 1)
    want = _weights(ref)
    results = []
    for trial in range(trials):
        run = work / f"trial{trial}"
        target = rng.randint(1, steps - 1)
        proc = _torchrun(_train_argv(data, run, steps))
        while _saved_step(run) < target and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, per_step))
        killed = proc.poll() is None
        at = _saved_step(run)
        for pid in _process_tree(proc.pid):  # torchrun and both ranks at once
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.5)  # the ranks' own exits (re-parented when torchrun went first)
        if (run / "checkpoints" / "last.safetensors").exists():
            code = _torchrun(["train", "--resume", str(run), "--no-progress"]).wait()
        else:
            code = _torchrun(_train_argv(data, run, steps)).wait()
        results.append(_train_outcome(run, want, trial, killed, at, code))
    return {"steps": steps, "processes": 2, "trials": results}


# ----------------------------------------------------------------------------- predict
def _predict_argv(data: Path, out: Path, ckpt: Path) -> list[str]:
    return [
        "predict", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(out),
        "--tta", "d4", "--batch-size", "1", "--no-progress", "--threads", "1",
    ]  # fmt: skip


def _done(out: Path) -> int:
    try:
        return len(json.loads((out / "manifest.json").read_text())["complete"])
    except Exception:
        return 0


def _outputs(out: Path) -> dict[str, object]:
    files: dict[str, object] = {}
    for p in sorted(out.glob("*_AGL.tif")):
        files[p.name] = read_agl_cm(p)
    for p in sorted(out.glob("*_VFLOW.json")):
        files[p.name] = p.read_text()
    return files


def _same(a: dict[str, object], b: dict[str, object]) -> bool:
    if set(a) != set(b):
        return False
    for k, v in a.items():
        w = b[k]
        if isinstance(v, np.ndarray):
            if not (isinstance(w, np.ndarray) and np.array_equal(v, w)):
                return False
        elif v != w:
            return False
    return True


def predict_trials(data: Path, work: Path, trials: int, ckpt: Path, rng: random.Random) -> dict:
    ref = work / "reference"
    wait = _timed(_predict_argv(data, ref, ckpt), lambda: _done(ref))
    n = _done(ref)
    want = _outputs(ref)
    results = []
    for trial in range(trials):
        out = work / f"trial{trial}"
        target = rng.randint(1, n - 2)
        killed, at = _trial(
            _predict_argv(data, out, ckpt), lambda o=out: _done(o), target, wait, rng, out
        )
        leftovers = sorted(p.name for p in out.glob("*") if ".tmp" in p.name)
        code = _run(_predict_argv(data, out, ckpt))
        results.append(
            {
                "trial": trial,
                "killed": killed,
                "complete_at_kill": at,
                "rerun_exit": code,
                "tmp_files_after_kill": leftovers,
                "tmp_files_after_rerun": sorted(p.name for p in out.glob("*") if ".tmp" in p.name),
                "identical": _same(_outputs(out), want),
            }
        )
    return {"images": n, "trials": results}


def main_driver() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("job", choices=["train", "train-ddp", "predict"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--ckpt", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.job == "train":
        result = train_trials(args.data, args.work, args.trials, args.steps, rng)
    elif args.job == "train-ddp":
        result = ddp_train_trials(args.data, args.work, args.trials, args.steps, rng)
    else:
        result = predict_trials(args.data, args.work, args.trials, args.ckpt, rng)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main_driver()
