"""The one-command demo, end to end on a tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geopose.cli import main
from geopose.commands.demo import DemoOptions, last_checkpoint, run_demo
from geopose.errors import UsageError


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    summary = run_demo(
        DemoOptions(
            out=out,
            minutes=0.05,
            train_per_city=3,
            test_per_city=1,
            size=64,
            overrides=["train.crop_size=64", "data.folds=2", "train.batch_size=4"],
            progress=False,
            shrink_flow=True,
        )
    )
    printed = capsys.readouterr().out
    assert "final score" in printed
    saved = json.loads((out / "summary.json").read_text())
    assert saved == summary
    for key in (
        "score",
        "agl_r2",
        "vflow_r2",
        "cities",
        "train_seconds",
        "total_seconds",
        "preset",
        "report",
    ):
        assert key in saved
    assert sorted(saved["cities"]) == ["ARG", "ATL", "JAX", "OMA"]
    assert Path(saved["report"]).is_file()
    assert saved["train_seconds"] <= saved["total_seconds"]
    # The score comes with its 95 % interval over held-out tiles, printed too.
    interval = saved["interval_95"]["score"]
    assert interval["value"] == pytest.approx(saved["score"], abs=1e-6)
    assert interval["low"] <= interval["value"] <= interval["high"]
    assert "95 % interval" in printed
    # The summary's score is what `geopose evaluate` gives on the written files.
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(out / "pred"),
                "--truth",
                str(out / "data" / "test_truth"),
                "--json",
                str(tmp_path / "s.json"),
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "s.json").read_text())["score"] == pytest.approx(
        saved["score"], rel=1e-9
    )
    # Shrunk flows are written, and the unshrunk prediction is scored beside them: same
    # heights, so the same AGL R².
    assert saved["shrink_flow"] is True
    raw = json.loads((out / "pred_unshrunk" / "scores.json").read_text())
    assert saved["unshrunk"]["score"] == pytest.approx(raw["score"], rel=1e-9)
    assert saved["unshrunk"]["agl_r2"] == pytest.approx(saved["agl_r2"], rel=1e-9)
    assert "without it the score is" in printed
    assert "written with --shrink-flow" in Path(saved["report"]).read_text(encoding="utf-8")


def test_last_checkpoint_is_the_final_weights(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    for name in ("last", "best-0000020-0.2500"):
        (ckpt / f"{name}.safetensors").write_bytes(b"")
    assert last_checkpoint(tmp_path).name == "last.safetensors"
    (ckpt / "last.safetensors").unlink()
    with pytest.raises(UsageError, match="no checkpoint"):
        last_checkpoint(tmp_path)


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--minutes"):
        run_demo(DemoOptions(out=tmp_path, minutes=0))
    assert main(["demo", "--out", str(tmp_path), "--size", "8"]) == 2
