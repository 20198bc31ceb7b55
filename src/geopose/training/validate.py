"""Validation on whole tiles with the official metric, split across ranks without overlap.

Each rank scores its own share of the validation tiles (``tiles[rank::world]``, so no
tile is scored twice and none is left out); the per-city sums are then gathered and
merged in rank order (:meth:`GeoposeMetric.all_reduce`), which gives the same score as
one process scoring every tile. The model runs under the run's autocast; its outputs
are cast to float32 before they reach the metric, which works in float64.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from geopose.data.collate import batch_to_device
from geopose.metrics import GeoposeMetric
from geopose.precision import autocast
from geopose.runtime import DistInfo


@torch.no_grad()
def sync_buffers(model: torch.nn.Module, info: DistInfo) -> None:
    """Give every rank rank 0's parameters and buffers (BatchNorm statistics drift apart
    between ranks during DDP training; validation must score the weights rank 0 saves)."""
    if not (info.distributed and dist.is_initialized()):
        return
    for tensor in [*model.parameters(), *model.buffers()]:
        dist.broadcast(tensor.data, src=0)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: DataLoader[Any],
    *,
    precision: str,
    device: torch.device,
    info: DistInfo,
    channels_last: bool = False,
) -> dict[str, Any]:
    """The metric's ``as_dict()`` over all ranks' tiles (score, agl_r2, vflow_r2, cities)."""
    was_training = model.training
    model.eval()
    metric = GeoposeMetric()
    for raw in loader:
        batch = batch_to_device(raw, device, channels_last)
        with autocast(precision, device):
            pred = model(batch["image"], batch["gsd"])
        metric.update_batch({k: v.float() for k, v in pred.items()}, batch)
    metric.all_reduce()
    model.train(was_training)
    return metric.compute().as_dict()
