"""Training and fine-tuning in the public API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geopose.training.recipes import run_config
from geopose.training.trainer import TrainResult
from geopose.training.trainer import train as run_training


def train(
    data: str | Path,
    out: str | Path,
    *,
    recipe: str | Path = "tiny",
    weights: str | Path | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train a model on a competition layout, or fine-tune one (``geopose train``).

    Args:
        data: the layout folder to train on (validated on one fold of it).
        out: the run folder to create: ``config.yaml``, ``metrics.jsonl`` and
            ``checkpoints/`` (``last.safetensors`` and the best ``best-….safetensors``;
            load them with :func:`geopose.load_model`).
        recipe: a shipped recipe (``tiny``, ``b0-unet``, ``b7-unet``, ``b6-rdtsc-unet``,
            ``v2l-unet``, ``demo``) or a YAML file.
        weights: a geopose checkpoint to fine-tune (the whole model, its input
            convention included), or an encoder weights file.
        settings: config keys to set, ``{"train.max_steps": 100, "optim.lr": 1e-4}``
            (units: ``train.crop_size`` px, ``train.time_limit_s`` s, …;
            docs/training.md lists them).
        progress: a progress bar on stderr.

    Returns:
        How the run ended: ``run_dir``, ``step``, ``epoch``, ``score`` (last validation
        score), ``best_score``, ``seconds``.

    Example:
        >>> run = geopose.train("data", "run", settings={"train.max_steps": 20})  # doctest: +SKIP
        >>> model = geopose.load_model(run.last_checkpoint)  # doctest: +SKIP
    """
    texts = [f"{key}={json.dumps(value)}" for key, value in (settings or {}).items()]
    if weights is not None:
        texts.append(f"model.weights={json.dumps(str(Path(weights).resolve()))}")
    config = run_config(recipe, texts, data)
    return run_training(config, out, progress=progress)
