"""The training loop end to end on a tiny synthetic layout (CPU, fp32 unless said)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from geopose.checkpoint import (
    load_checkpoint,
    read_checkpoint_header,
    read_tensors,
    save_checkpoint,
)
from geopose.config import Config, ConfigError, config_to_dict
from geopose.data.collate import batch_to_device, collate_samples
from geopose.data.dataset import ValDataset
from geopose.data.folds import split_ids
from geopose.errors import DataError, JobAborted, UsageError
from geopose.io import open_layout
from geopose.losses import build_loss
from geopose.models import create_model, get_preset, load_model, read_model_spec, registry
from geopose.runtime import Runtime
from geopose.training.trainer import (
    StepStatus,
    TrainHooks,
    build_cache_together,
    resume_config,
    seed_everything,
    train,
)

MakeConfig = Callable[..., Config]
CPU = torch.device("cpu")


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0]


def test_run_trains_logs_and_checkpoints_load_into_create_model(
    tiny_config: MakeConfig, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    statuses: list[StepStatus] = []
    config = tiny_config("train.max_steps=12", "train.top_k=2")
    result = train(config, run, hooks=TrainHooks(on_step=statuses.append), progress=False)

    assert result.stopped == "finished"
    assert result.step == 12
    assert result.epoch == 4
    assert [s.step for s in statuses] == list(range(1, 13))
    records = _records(run)
    assert [r["step"] for r in records] == [3, 6, 9, 12]
    assert [r["epoch"] for r in records] == [0, 1, 2, 3]
    for r in records:
        assert set(r) >= {"lr", "images_per_s", "peak_mem_mb", "skipped_steps", "time_s"}
        assert set(r["loss"]) == {*config.loss.terms, "total"}
        assert set(r["val"]["cities"]) <= {"JAX", "OMA"}
        assert sum(c["images"] for c in r["val"]["cities"].values()) == 3
    assert result.score == pytest.approx(records[-1]["val"]["score"])

    # Resolved config beside the run and inside every checkpoint.
    assert yaml.safe_load((run / "config.yaml").read_text()) == config_to_dict(config)
    state, saved_config, extra = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert saved_config == config_to_dict(config)
    assert extra["step"] == 12
    model = create_model(saved_config["model"]["preset"])
    model.load_state_dict(state, strict=True)
    # Format 2: the checkpoint carries the model's own spec and rebuilds from it.
    assert read_model_spec(run / "checkpoints" / "last.safetensors") == model.spec
    loaded = load_model(run / "checkpoints" / "last.safetensors")
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in state.items())

    # The loss fell: the same fixed batch (every training tile, whole), before and after.
    seed_everything(config.train.seed)
    initial = create_model(config.model.preset)
    before, after = _fixed_batch_loss(initial, config), _fixed_batch_loss(model, config)
    assert after < 0.97 * before, f"loss did not fall: {before} -> {after}"

    # Top-k: the best scores of all validations, named best-<step>-<score>.
    best = sorted((run / "checkpoints").glob("best-*.safetensors"))
    scores = sorted((r["val"]["score"] for r in records), reverse=True)[:2]
    assert len(best) == 2
    named = sorted(float(p.stem.split("-", 2)[2]) for p in best)
    assert named == pytest.approx(sorted(scores), abs=1e-4)
    assert (run / "tb").is_dir()
    assert any((run / "tb").iterdir())


def _fixed_batch_loss(model: torch.nn.Module, config: Config) -> float:
    layout = open_layout(config.data.root)
    metas = [layout.metadata[e.id] for e in layout.entries("train")]
    train_ids, _ = split_ids(metas, config.data.folds, config.data.fold, config.data.split)
    tiles = ValDataset([layout.entry(i) for i in train_ids], Path(config.data.root) / ".cache-t")
    batch = batch_to_device(collate_samples([tiles[i] for i in range(len(tiles))]), CPU)
    with torch.no_grad():
        pred = model.train()(batch["image"], batch["gsd"])  # batch statistics: no BN drift
        return float(build_loss(config.loss.terms)(pred, batch)[0])


def test_killed_run_resumes_to_bit_identical_weights(
    tiny_config: MakeConfig, tmp_path: Path
) -> None:
    # EMA, gradient accumulation and a stop in the middle of an epoch all have state
    # that an exact resume must restore.
    common = ("train.max_steps=5", "train.ema=0.9", "train.grad_accum=2", "train.batch_size=2")
    whole = train(tiny_config(*common), tmp_path / "a", progress=False)
    assert whole.step == 5

    # 9 tiles, 4 per step: 2 steps per epoch, so step 3 stops inside the second epoch.
    killed = train(tiny_config(*common, "train.stop_after_steps=3"), tmp_path / "b", progress=False)
    assert killed.stopped == "stop_after_steps"
    assert killed.step == 3
    resumed = train(
        resume_config(tmp_path / "b", ["train.stop_after_steps=null"]), tmp_path / "b", resume=True,
        progress=False,
    )  # fmt: skip
    assert resumed.step == 5

    a = _weights(tmp_path / "a" / "checkpoints" / "last.safetensors")
    b = _weights(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    score_a = _records(tmp_path / "a")[-1]["val"]["score"]
    score_b = _records(tmp_path / "b")[-1]["val"]["score"]
    assert score_a == score_b


def test_resume_with_more_steps_extends_a_finished_run(
    tiny_config: MakeConfig, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    train(tiny_config("train.max_steps=3", "schedule.warmup_steps=1"), run, progress=False)
    again = train(resume_config(run, []), run, resume=True, progress=False)
    assert again.stopped == "already_finished"
    assert again.step == 3

    lrs: list[float] = []
    longer = resume_config(run, ["train.max_steps=6"])
    result = train(longer, run, resume=True, hooks=TrainHooks(on_step=lambda s: lrs.append(s.lr)),
                   progress=False)  # fmt: skip
    assert result.step == 6
    assert [r["step"] for r in _records(run)] == [3, 6]
    # The schedule continues from the rate it had reached and decays over the new length.
    assert lrs == sorted(lrs, reverse=True)
    assert len(lrs) == 3
    with pytest.raises(UsageError, match="model"):
        resume_config(run, ["model.preset=b0-unet"])


def test_resume_refuses_a_preset_edited_since_the_run_began(
    tiny_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    train(tiny_config("train.max_steps=2"), run, progress=False)
    spec = get_preset("tiny")
    edited = dataclasses.replace(spec, decoder=dataclasses.replace(spec.decoder, activation="silu"))
    monkeypatch.setitem(registry._PRESETS, "tiny", edited)
    with pytest.raises(DataError, match=r"last\.safetensors: .*preset was edited"):
        train(resume_config(run, ["train.max_steps=4"]), run, resume=True, progress=False)


def test_resume_accepts_a_spec_saved_before_a_field_was_added(
    tiny_config: MakeConfig, tmp_path: Path
) -> None:
    # A run saved before DecoderConfig.upsample_conv existed: its spec lacks the field.
    run = tmp_path / "run"
    train(tiny_config("train.max_steps=2"), run, progress=False)
    last = run / "checkpoints" / "last.safetensors"
    header = read_checkpoint_header(last)
    assert header.model is not None
    old = dict(header.model)
    old["decoder"] = {k: v for k, v in old["decoder"].items() if k != "upsample_conv"}
    assert old != header.model
    save_checkpoint(last, read_tensors(last), header.config, header.extra, model=old)
    result = train(resume_config(run, ["train.max_steps=4"]), run, resume=True, progress=False)
    assert result.step == 4


def test_injected_inf_loss_skips_steps_and_keeps_weights_finite(
    tiny_config: MakeConfig, tmp_path: Path
) -> None:
    bad_steps = {2, 3}  # optimizer step counts at which the loss is made infinite
    seen: list[int] = []

    def inject(loss: torch.Tensor, step: int) -> torch.Tensor:
        if step in bad_steps and step not in seen:
            seen.append(step)
            return loss * math.inf
        return loss

    run = tmp_path / "run"
    result = train(tiny_config("train.max_steps=5"), run, hooks=TrainHooks(on_loss=inject),
                   progress=False)  # fmt: skip
    assert result.step == 5
    assert result.skipped_steps == 2
    assert _records(run)[-1]["skipped_steps"] == 2
    for value in _weights(run / "checkpoints" / "last.safetensors").values():
        if value.is_floating_point():
            assert torch.isfinite(value).all()


def test_consecutive_nonfinite_steps_stop_the_run(tiny_config: MakeConfig, tmp_path: Path) -> None:
    def always_nan(loss: torch.Tensor, step: int) -> torch.Tensor:
        return loss * math.nan if step >= 1 else loss

    config = tiny_config("train.max_steps=8", "train.max_nonfinite=3")
    with pytest.raises(JobAborted, match="3 consecutive steps had a non-finite") as info:
        train(config, tmp_path / "run", hooks=TrainHooks(on_loss=always_nan), progress=False)
    assert info.value.exit_code == 3


def test_time_limit_stops_cleanly_with_a_validated_checkpoint(
    tiny_config: MakeConfig, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = train(tiny_config("train.max_steps=50", "train.time_limit_s=1e-6"), run,
                   progress=False)  # fmt: skip
    assert result.stopped == "time_limit"
    assert result.step == 1
    assert _records(run)[-1]["val"] is not None
    assert (run / "checkpoints" / "last.state.safetensors").exists()
    # The demo can resume such a run later without a time limit.
    resumed = train(resume_config(run, ["train.time_limit_s=null", "train.max_steps=2"]), run,
                    resume=True, progress=False)  # fmt: skip
    assert resumed.step == 2


def test_group_split_and_bf16_on_cpu(tiny_config: MakeConfig, tmp_path: Path) -> None:
    config = tiny_config(
        "train.max_steps=2", "data.split=group", "train.precision=bf16", "train.threads=2"
    )
    result = train(config, tmp_path / "run", progress=False)
    assert torch.get_num_threads() == 2  # train.threads applied (the fixture set 1)
    assert result.step == 2
    assert result.score is not None
    assert math.isfinite(result.score)


def test_stream_trains_on_fresh_tiles_and_decodes_only_the_validation_files(
    tiny_config: MakeConfig, tmp_path: Path
) -> None:
    """``data.stream``: the training items are rendered, not read, so only the
    validation fold's rasters (an RGB and an AGL each) reach the cache; the run trains
    and validates on the files as usual."""
    cache = tmp_path / "cache"
    config = tiny_config(
        "train.max_steps=2", "data.stream=true", "data.stream_size=48", f"data.cache_dir={cache}"
    )
    result = train(config, tmp_path / "run", progress=False)
    assert result.step == 2
    assert result.score is not None
    assert math.isfinite(result.score)
    assert len(list(cache.rglob("*.npy"))) == 2 * 3  # 3 validation tiles of 12
    with pytest.raises(ConfigError, match=r"data\.stream_size: 24 px is smaller"):
        tiny_config("data.stream=true", "data.stream_size=24")


@dataclasses.dataclass(frozen=True)
class _RecordingRuntime(Runtime):
    """A rank of a job without a process group whose barriers are written down."""

    events: list[str] = dataclasses.field(default_factory=list)

    def barrier(self) -> None:
        self.events.append("barrier")


def test_ranks_share_the_cache_build_and_meet_after_each_tile(
    synth_root: Path, tmp_path: Path
) -> None:
    # No collective may wait for the whole cache (a process-group timeout on a large
    # dataset): each rank decodes every world-th tile, with a barrier after each round.
    entries = list(open_layout(synth_root).entries("train"))[:5]

    def decoded(cache: Path) -> list[str]:
        return sorted(p.name.split(".")[0] for p in cache.glob("*.rgb.npy"))

    for rank in (0, 1):
        rt = _RecordingRuntime(rank, 2)
        build_cache_together(entries, tmp_path / f"cache{rank}", rt)
        assert decoded(tmp_path / f"cache{rank}") == sorted(e.rgb.stem for e in entries[rank::2])
        assert rt.events == ["barrier"] * 3  # 5 tiles, 2 ranks: 3 rounds on both ranks
    build_cache_together(entries, tmp_path / "cache", Runtime())  # one process: all
    assert decoded(tmp_path / "cache") == sorted(e.rgb.stem for e in entries)
