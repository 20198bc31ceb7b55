"""What a training run writes (rank 0 only): config, metrics, TensorBoard, checkpoints.

``RUN/config.yaml`` (resolved config) · ``RUN/metrics.jsonl`` (one JSON object per
validation/epoch) · ``RUN/tb/`` (TensorBoard events when tensorboard is installed) ·
``RUN/checkpoints/last.safetensors`` + ``last.state.safetensors`` (weights; optimizer,
schedule, scaler, RNG and data-order state) · ``RUN/checkpoints/best-<step>-<score>.safetensors``
(the top-k validated weights). Checkpoints are format 2: they carry the model's resolved
spec (``model``, ``GeoposeModel.spec.to_dict()``). Every file is written atomically.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

from geopose.checkpoint import save_checkpoint
from geopose.errors import DataError
from geopose.io.atomic import atomic_path, atomic_write_text
from geopose.training.state import load_state, save_state

LAST = "last.safetensors"
LAST_STATE = "last.state.safetensors"


class RunFiles:
    """Paths of a run directory and the writers for them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.checkpoints = self.root / "checkpoints"
        self.metrics = self.root / "metrics.jsonl"
        self.config = self.root / "config.yaml"
        self._tb: Any = None

    @property
    def last(self) -> Path:
        return self.checkpoints / LAST

    @property
    def last_state(self) -> Path:
        return self.checkpoints / LAST_STATE

    def prepare(self, config: dict[str, Any]) -> None:
        """Create the folders and write the resolved config."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config, yaml.safe_dump(config, sort_keys=False))

    def log(self, record: dict[str, Any]) -> None:
        """Append one record to metrics.jsonl (NaN written as null)."""
        line = json.dumps(_finite(record), sort_keys=False)
        with open(self.metrics, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def tensorboard(self, scalars: dict[str, float], step: int) -> None:
        """Write scalars to RUN/tb when tensorboard is installed (silently skipped if not)."""
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._tb = False
                return
            self._tb = SummaryWriter(str(self.root / "tb"))
        if self._tb is False:
            return
        for key, value in scalars.items():
            if value is not None and math.isfinite(value):
                self._tb.add_scalar(key, value, step)
        self._tb.flush()

    def close(self) -> None:
        if self._tb:
            self._tb.close()

    def save_last(
        self,
        weights: dict[str, torch.Tensor],
        config: dict[str, Any],
        extra: dict[str, Any],
        state: dict[str, Any],
        *,
        model: Mapping[str, Any],
    ) -> None:
        """Write last.safetensors (weights + ``model`` spec dict) and its training state.

        Both are written to temporary files first and then renamed, the state first; the
        state carries a copy of the weights (``state["weights"]``). A run killed between
        the two renames thus has a state one checkpoint newer than last.safetensors, and
        resumes exactly from the state's weights (:meth:`Trainer.load`).
        """
        with atomic_path(self.last) as tmp_weights, atomic_path(self.last_state) as tmp_state:
            save_checkpoint(tmp_weights, weights, config, extra, model=model)
            save_state(tmp_state, {**state, "weights": weights})

    def load_last(self) -> dict[str, Any]:
        return load_state(self.last_state)

    def save_best(
        self,
        best: list[list[Any]],
        top_k: int,
        score: float,
        weights: dict[str, torch.Tensor],
        config: dict[str, Any],
        extra: dict[str, Any],
        *,
        model: Mapping[str, Any],
    ) -> list[list[Any]]:
        """Keep the ``top_k`` highest scores as best-<step>-<score>.safetensors.

        ``best`` holds ``[score, step, file name]`` rows; returns the updated rows (files
        that fell out of the top k are removed).
        """
        if top_k <= 0 or not math.isfinite(score):
            return best
        rows = sorted(best, key=lambda r: (-r[0], r[1]))
        if len(rows) >= top_k and score <= rows[-1][0]:
            return rows
        name = f"best-{int(extra['step']):07d}-{score:.4f}.safetensors"
        save_checkpoint(self.checkpoints / name, weights, config, extra, model=model)
        rows = sorted(
            [*rows, [float(score), int(extra["step"]), name]], key=lambda r: (-r[0], r[1])
        )
        kept = {r[2] for r in rows[:top_k]}
        for _, _, old in rows[top_k:]:
            if old not in kept and BEST_NAME.fullmatch(old):  # never a path elsewhere
                (self.checkpoints / old).unlink(missing_ok=True)
        return rows[:top_k]


#: Name of a top-k checkpoint file: ``best-<step>-<score>.safetensors``, no folder.
BEST_NAME = re.compile(r"best-\d{7,}-[-+\w.]+\.safetensors")


def checked_best_rows(rows: Any, source: Path) -> list[list[Any]]:
    """The top-k rows ``[score, step, file name]`` of a saved training state, checked.

    The names come from a file (a run folder may come from anyone) and old best files
    are deleted by name, so each must be a plain ``best-…`` checkpoint name inside the
    checkpoints folder; :class:`DataError` naming ``source`` otherwise.
    """
    if not isinstance(rows, list):
        raise DataError(source, "corrupt training state: 'best' is not a list")
    out = []
    for row in rows:
        ok = isinstance(row, (list, tuple)) and len(row) == 3
        if ok:
            score, step, name = row
            ok = (
                isinstance(score, (int, float))
                and isinstance(step, int)
                and isinstance(name, str)
                and BEST_NAME.fullmatch(name) is not None
            )
        if not ok:
            raise DataError(source, f"corrupt training state: bad best-checkpoint row {row!r}")
        out.append([float(score), int(step), str(name)])
    return out


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
