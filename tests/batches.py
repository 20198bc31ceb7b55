"""Sample dicts (DESIGN.md §4) batched as a model and the loss take them, for tests that
train without the data loaders."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def to_batch(samples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """``(image B×3×H×W in [0, 1], gsd B (m/px), labels)``; labels hold ``agl`` (m,
    no-data as 0), ``valid``, ``scale`` (px/m), ``angle`` (rad) and ``city``."""
    image = torch.from_numpy(np.stack([s["image"] for s in samples])).permute(0, 3, 1, 2)
    agl = np.stack([s["agl"] for s in samples])
    valid = np.isfinite(agl)
    batch = {
        "agl": torch.from_numpy(np.where(valid, agl, 0.0).astype(np.float32))[:, None],
        "valid": torch.from_numpy(valid)[:, None],
        "scale": torch.tensor([s["scale"] for s in samples], dtype=torch.float32),
        "angle": torch.tensor([s["angle"] for s in samples], dtype=torch.float32),
        "city": [s["city"] for s in samples],
    }
    gsd = torch.tensor([s["gsd"] for s in samples], dtype=torch.float32)
    return image.float() / 255.0, gsd, batch
