"""Killed jobs: SIGKILL a CPU training run at random steps and resume it; SIGKILL a
layout prediction mid-way and rerun it. Final weights and output files must equal an
uninterrupted run's exactly (single process; the trials run in
:mod:`hardening.fault_driver`).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from geopose.checkpoint import load_checkpoint
from geopose.cli import main
from geopose.data.synth import write_dataset
from hardening.harness import TIMEOUT_S, child_env

DRIVER = Path(__file__).with_name("fault_driver.py")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private layout (training writes its decode cache into the layout folder)."""
    root = tmp_path_factory.mktemp("faults") / "data"
    write_dataset(root, ("JAX", "OMA"), 3, 4, 48, seed=11, progress=False)
    return root


def _drive(*args: str | Path, timeout: float = 4 * TIMEOUT_S) -> dict:
    proc = subprocess.run(
        [sys.executable, str(DRIVER), *map(str, args)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.slow
def test_training_killed_at_random_steps_resumes_to_identical_weights(
    data: Path, tmp_path: Path
) -> None:
    result = _drive("train", "--data", data, "--work", tmp_path, "--trials", 10, "--seed", 16)
    trials = result["trials"]
    assert len(trials) == 10
    assert all(t["killed"] for t in trials), trials  # the kills really happened
    assert len({t["saved_step_at_kill"] for t in trials}) >= 3, trials  # at various steps
    for t in trials:
        assert t["rerun_exit"] == 0, t
        assert t["final_step"] == result["steps"], t
        assert t["identical"], t


@pytest.mark.slow
def test_prediction_killed_mid_layout_reruns_to_identical_outputs(
    data: Path, tmp_path: Path, tiny_ckpt: Path
) -> None:
    result = _drive(
        "predict", "--data", data, "--work", tmp_path, "--trials", 3, "--ckpt", tiny_ckpt,
        "--seed", 3,
    )  # fmt: skip
    for t in result["trials"]:
        assert t["killed"], t
        assert 0 < t["complete_at_kill"] < result["images"], t
        assert t["rerun_exit"] == 0, t
        assert t["identical"], t
        assert t["tmp_files_after_rerun"] == t["tmp_files_after_kill"], t  # none added


@pytest.mark.parametrize("torn_at", [2, 4])
def test_kill_between_the_two_checkpoint_renames_still_resumes_exactly(
    data: Path, tmp_path: Path, torn_at: int
) -> None:
    """The one instant the random kills rarely hit: the training state already renamed,
    last.safetensors not yet. The state carries the weights, so the resume is exact —
    at the final step too (4 of 4), where the resume has no step left to run and must
    still write the final weights (a random-kill trial in CI found it did not)."""
    common = [
        "--config", "tiny", "--no-progress", "train.workers=0", "train.crop_size=32",
        "train.batch_size=2", "data.folds=2", "train.max_steps=4", "train.checkpoint_every=1",
    ]  # fmt: skip

    def train(run: Path, *extra: str) -> None:
        assert main(["train", "--data", str(data), "--out", str(run), *common, *extra]) == 0

    train(tmp_path / "whole")
    train(tmp_path / "older", f"train.stop_after_steps={torn_at - 1}")
    train(tmp_path / "torn", f"train.stop_after_steps={torn_at}")
    torn = tmp_path / "torn" / "checkpoints" / "last.safetensors"
    torn.write_bytes((tmp_path / "older" / "checkpoints" / "last.safetensors").read_bytes())
    resume = ["train", "--resume", str(tmp_path / "torn"), "--no-progress"]
    assert main([*resume, "train.stop_after_steps=null"]) == 0
    want = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.safetensors")[0]
    got = load_checkpoint(torn)[0]
    assert set(got) == set(want)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_sigterm_stops_training_in_one_line_and_the_run_resumes(data: Path, tmp_path: Path) -> None:
    """A batch scheduler's SIGTERM (or torchrun's, when another rank died): exit code 3,
    one line that says how to go on, no temporary file, and the run resumes."""
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "geopose", "train", "--data", str(data), "--out", str(run),
        "--config", "tiny", "--no-progress", "train.workers=0", "train.crop_size=32",
        "train.batch_size=2", "data.folds=2", "train.max_steps=100000",
        "train.checkpoint_every=1", "train.threads=1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        last = run / "checkpoints" / "last.safetensors"
        while not last.is_file():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, stderr
    assert stderr.strip().splitlines() == [
        f"geopose train: error: {run}: stopped by SIGTERM (under torchrun: another process "
        f"of the run failed); its last checkpoint is kept: resume with "
        f"`geopose train --resume {run}`"
    ]
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]
    step = load_checkpoint(last)[2]["step"]
    resume = ["train", "--resume", str(run), "--no-progress", f"train.max_steps={step + 1}"]
    assert main(resume) == 0
    assert load_checkpoint(last)[2]["step"] == step + 1
