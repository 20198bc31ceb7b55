"""The ablation table's script (benchmarks/ablations.py): every row resolves to a valid
config and model that differ from the reference's in what the row says, reused results
are the row's recipe, and the table's arithmetic and Markdown on small fake results."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def abl() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("ablations", ROOT / "benchmarks" / "ablations.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ablations"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and not (prefix.startswith("loss.terms.") and prefix.count(".") > 2):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _config_dict(abl: ModuleType, row: Any, seed: int = 0) -> dict[str, Any]:
    from geopose.config import config_to_dict

    return _flat(config_to_dict(abl.row_config(row, seed)))


def test_every_training_row_builds_its_model_and_loss_and_runs_a_step(abl: ModuleType) -> None:
    from geopose.losses import build_loss
    from geopose.models import create_model

    torch.manual_seed(0)
    trained = [r for r in abl.ROWS if r.measure == "train"]
    assert len(trained) >= 12
    batch = {
        "agl": torch.rand(2, 1, 32, 32) * 30,
        "valid": torch.ones(2, 1, 32, 32, dtype=torch.bool),
        "scale": torch.tensor([1.0, 2.0]),
        "angle": torch.tensor([0.3, 1.0]),
        "city": ["ARG", "JAX"],
    }
    configs = {row.key: abl.row_config(row) for row in trained}
    for preset in sorted({c.model.preset for c in configs.values()}):
        model = create_model(preset)
        pred = model(torch.rand(2, 3, 32, 32), torch.tensor([0.3, 0.4]))
        for key, config in configs.items():
            if config.model.preset == preset:
                total, _ = build_loss(config.loss.terms)(pred, batch)
                assert torch.isfinite(total), key
        total.backward()


def test_each_row_changes_what_it_says_and_nothing_else(abl: ModuleType) -> None:
    ref = _config_dict(abl, abl.BY_KEY["ref"])
    assert ref["train.max_steps"] == 1500
    assert ref["train.threads"] == 1
    assert ref["train.precision"] == "fp32"
    assert ref["model.preset"] == "tiny-lean-gs"
    assert ref["augment.level"] == "d4"
    for row in abl.ROWS:
        if row.measure != "train" or row.key == "ref":
            continue
        mine = _config_dict(abl, row)
        changed = {k for k in set(ref) | set(mine) if ref.get(k) != mine.get(k)}
        assert changed, f"row {row.key} trains the reference itself"
        if row.recipe == abl.REF_RECIPE:
            keys = {c.split("=", 1)[0] for c in row.change}
            # Every changed key is one the row's overrides name (or a term they add).
            for k in changed:
                assert any(k == c or k.startswith(c.rsplit(".", 1)[0]) for c in keys), (
                    row.key,
                    k,
                )
    rerun = _config_dict(abl, abl.BY_KEY["rerun"])
    assert {k for k in rerun if rerun[k] != ref[k]} == {"train.ema", "train.top_k"}


def _parse_command(command: str) -> tuple[str, list[str], dict[str, str]]:
    words = shlex.split(command)
    opts, overrides = {}, []
    i = words.index("run") + 2
    while i < len(words):
        w = words[i]
        if w.startswith("--") and w != "--":
            opts[w] = words[i + 1]
            i += 2
            continue
        if "=" in w:
            overrides.append(w)
        i += 1
    return opts["--recipe"], overrides, opts


def test_reused_results_were_made_with_the_rows_recipe(abl: ModuleType) -> None:
    """A benchmark result stands in for a (row, seed) only when its recorded command
    resolves to the config that row trains at that seed."""
    import json

    from geopose.config import config_to_dict
    from geopose.training.recipes import run_config

    reused = [(r, s, name) for r in abl.ROWS for s, name in r.reuse.items()]
    assert reused
    for row, seed, name in reused:
        result = json.loads((abl.accuracy.RESULTS / f"{name}.json").read_text())
        recipe, overrides, opts = _parse_command(result["command"])
        assert int(opts["--seed"]) == seed
        assert int(opts["--steps"]) == abl.REF_STEPS
        assert int(opts["--train-tiles"]) == abl.REF_TILES
        assert result["threads"] == abl.REF_THREADS
        fixed = [
            f"train.max_steps={opts['--steps']}",
            f"train.seed={seed}",
            f"train.threads={result['threads']}",
            "train.time_limit_s=null",
        ]
        theirs = config_to_dict(run_config(abl._recipe_path(recipe), [*fixed, *overrides]))
        assert _flat(theirs) == _config_dict(abl, row, seed), (row.key, name)


def test_the_queue_names_each_job_once_and_eval_rows_score_trained_runs(abl: ModuleType) -> None:
    names = [j.name for j in abl.JOBS]
    assert len(names) == len(set(names))
    for row in abl.ROWS:
        if row.measure == "train":
            for seed in abl.SEEDS:
                assert f"abl-{row.key}-s{seed}" in names, row.key
        if row.measure == "eval":
            assert abl.BY_KEY[row.base].measure == "train"
            assert row.source.split(":")[0] in ("tta", "ema", "top3", "valfold")
        if row.measure == "none":
            assert row.why
            assert not any(n.startswith(f"abl-{row.key}-") for n in names)
    # Eval rows need their run's result first.
    job = next(j for j in abl.JOBS if j.row.key == "tta-none")
    assert job.source_run == f"abl-rerun-s{job.seed}"


def test_tile_sums_survive_the_json_round_trip(abl: ModuleType) -> None:
    from geopose.intervals import score_with_intervals

    tiles = _fake_model(np.random.default_rng(0), 2.0)
    back = abl.stats_from_json(abl._stats_to_json(tiles))
    a = score_with_intervals(tiles, resamples=50).score.value
    b = score_with_intervals(back, resamples=50).score.value
    assert b == pytest.approx(a, abs=1e-7)


def _fake_model(rng: np.random.Generator, noise: float) -> list[Any]:
    from geopose.intervals import tile_stats

    truth_rng = np.random.default_rng(42)  # the same held-out tiles for every model
    tiles = []
    for i in range(8):
        t = truth_rng.gamma(1.5, 4.0, size=(8, 8)).astype(np.float32)
        s, a = truth_rng.uniform(0.5, 2.0), truth_rng.uniform(0, 6.0)
        pred = (t + rng.normal(0, noise, size=t.shape)).astype(np.float32)
        tiles.append(tile_stats(("ARG", "OMA")[i % 2], t, s, a, pred, s, a + 0.1))
    return tiles


def _fake_result(abl: ModuleType, tiles: list[Any]) -> dict[str, Any]:
    from geopose.intervals import score_with_intervals

    rep = score_with_intervals(tiles, resamples=50).as_dict()
    return {**rep, "tile_stats": abl._stats_to_json(tiles), "train_s": 600.0}


def test_summary_pools_seeds_and_pairs_differences(abl: ModuleType) -> None:
    rng = np.random.default_rng(1)
    ref = [_fake_model(rng, 2.0) for _ in abl.SEEDS]
    worse = [_fake_model(rng, 6.0) for _ in abl.SEEDS]
    results = {("rerun", s): _fake_result(abl, ref[s]) for s in abl.SEEDS}
    results |= {("l1", s): _fake_result(abl, worse[s]) for s in abl.SEEDS}
    results[("tta-none", 0)] = _fake_result(abl, ref[0])  # one seed only
    # A reused benchmark result has no per-tile sums: pooled without an interval.
    bare = {k: v for k, v in _fake_result(abl, worse[0]).items() if k != "tile_stats"}
    results[("ref", 0)] = {**bare, "reused": "gs-1500", "command": "python x"}
    results[("ref", 1)] = _fake_result(abl, ref[1])
    summary = abl.summarize(results)
    rows = {e["key"]: e for e in summary["rows"]}
    l1 = rows["l1"]
    assert l1["measured_seeds"] == [0, 1]
    want = np.mean([results[("l1", s)]["score"]["value"] for s in abl.SEEDS])
    assert l1["pooled"]["score"]["value"] == pytest.approx(want, abs=1e-6)
    assert l1["delta"]["score"]["value"] < 0
    assert l1["delta"]["score"]["high"] < 0  # far worse: the interval excludes 0
    assert l1["delta_paired"]
    assert rows["tta-none"]["delta"]["score"]["value"] == pytest.approx(0.0, abs=1e-12)
    assert rows["tta-none"]["delta_seeds"] == [0]
    assert "delta" not in rows["bilinear"]  # nothing measured
    assert "low" not in rows["ref"]["pooled"]["score"]
    want = (results[("ref", 0)]["score"]["value"] + results[("ref", 1)]["score"]["value"]) / 2
    assert rows["ref"]["pooled"]["score"]["value"] == pytest.approx(want)
    assert rows["rerun"]["delta_seeds"] == [1]  # the seed both have sums for
    assert {u["key"] for u in summary["unmeasured"]} == {"fp16-units", "bf16"}
    text = abl.markdown(summary)
    assert "**l1**" in text
    assert "Not measured here" in text
    assert "abl-l1-s1" in text  # the reproducing command
    assert "−" in text  # negative differences are typeset with a minus sign
    # The forest plot: one row per row with a difference, in the table's order
    # (top to bottom), its pooled interval drawn around the pooled difference.
    fig = abl.effects_figure(summary)
    ax = fig.axes[0]
    ticks = [t.get_text().split(" ")[0] for t in ax.get_yticklabels()]
    assert ticks == [e["key"] for e in reversed(summary["rows"]) if "delta" in e]
    assert ticks[0] != ticks[-1]
    l1_y = ticks.index("l1")
    bar = next(c for c in ax.collections if c.get_segments()[0][0][1] == l1_y)
    (x0, _), (x1, _) = bar.get_segments()[0]
    assert (min(x0, x1), max(x0, x1)) == pytest.approx(
        (l1["delta"]["score"]["low"], l1["delta"]["score"]["high"])
    )


def test_a_finished_training_is_scored_not_trained_again(
    abl: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A job stopped after its training finished (the session ended during scoring) must
    # not train again; one whose training stopped early must.
    monkeypatch.setattr(abl.accuracy, "RUNS", tmp_path)
    name = "abl-x-s0"
    (tmp_path / name / "checkpoints").mkdir(parents=True)
    (tmp_path / name / "checkpoints" / "last.safetensors").write_bytes(b"x")
    log = tmp_path / f"{name}.log"
    steps = abl.REF_STEPS
    log.write_text(
        f"step {steps}\nfinished: step {steps}, epoch 24, validation score 0.1790 (best "
        f"0.2274), skipped steps 0, 2130.4 s; run in /a, b/{name}\n"
    )
    assert abl.finished_training_s(name) == pytest.approx(2130.4)
    log.write_text(
        f"time_limit: step {steps - 1}, epoch 24, validation score 0.1, 9.0 s; run in /a\n"
    )
    assert abl.finished_training_s(name) is None
    log.write_text(f"finished: step {steps}, epoch 24, validation score 0.1, 9.0 s; run in /a\n")
    (tmp_path / name / "checkpoints" / "last.safetensors").unlink()
    assert abl.finished_training_s(name) is None
