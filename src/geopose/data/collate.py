"""Batching samples into tensors (DESIGN.md §4 batch contract).

A batch holds ``image`` B×3×H×W **uint8** RGB (the loop converts it to float [0, 1] on
the device: four times less data through the loader's shared memory), ``gsd`` B float32
(m/px), ``city`` and ``id`` lists and, for labelled samples, ``agl`` B×1×H×W float32
metres with no-data set to 0 (never NaN), ``valid`` B×1×H×W bool, ``scale`` B float32
(px/m) and ``angle`` B float32 (rad).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from geopose.errors import DataError

Batch = dict[str, Any]


def _label_keys(samples: Sequence[dict[str, Any]]) -> bool:
    has = ["agl" in s for s in samples]
    if any(has) and not all(has):
        raise DataError(
            str(samples[0].get("id", "<batch>")), "batch mixes labelled and unlabelled samples"
        )
    return all(has)


def collate_samples(samples: Sequence[dict[str, Any]]) -> Batch:
    """Stack Sample dicts into one batch; all samples must share H×W."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    shapes = {np.shape(s["image"]) for s in samples}
    if len(shapes) != 1:
        raise DataError(
            str(samples[0].get("id", "<batch>")),
            f"images of different sizes in a batch: {sorted(shapes)}",
        )
    images = np.stack([np.asarray(s["image"], dtype=np.uint8) for s in samples])
    batch: Batch = {
        "image": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        "gsd": torch.tensor([float(s["gsd"]) for s in samples], dtype=torch.float32),
        "city": [str(s["city"]) for s in samples],
        "id": [str(s["id"]) for s in samples],
    }
    if not _label_keys(samples):
        return batch
    agl = np.stack([np.asarray(s["agl"], dtype=np.float32) for s in samples])[:, None]
    valid = np.isfinite(agl)
    batch["agl"] = torch.from_numpy(np.where(valid, agl, np.float32(0.0)))
    batch["valid"] = torch.from_numpy(valid)
    batch["scale"] = torch.tensor([float(s["scale"]) for s in samples], dtype=torch.float32)
    batch["angle"] = torch.tensor([float(s["angle"]) for s in samples], dtype=torch.float32)
    return batch


def batch_to_device(batch: Batch, device: torch.device, channels_last: bool = False) -> Batch:
    """Move tensors to ``device``; the uint8 image becomes float32 RGB in [0, 1]."""
    out: Batch = {}
    for key, value in batch.items():
        out[key] = value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
    image = out["image"]
    if image.dtype == torch.uint8:
        image = image.float().div_(255.0)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    out["image"] = image
    return out
