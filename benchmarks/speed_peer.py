"""The authors' side of ``predict_vs_peer.py`` (runs in their environment; not geopose code).

Builds the 2nd place's network with their own code (random weights: speed does not
depend on them) and times their own inference path on request: the uint8 image through
their input normalisation (``A.Normalize``, ``image_to_tensor``), then one forward pass
(``view``) or their D4 wrapper (``d4``: ``wrap_model_with_tta(model, "d4")``, eight views
one after another, batch 1, fp32), under ``torch.no_grad`` as their ``predict.py`` does.

It reads one JSON request per line on stdin, ``{"mode": "view"|"d4", "size": N,
"repeats": R}``, and answers one JSON line ``{"seconds": [...]}`` (after one untimed
forward pass per new tile size), so that the caller can interleave its own timings
with these in one run. ``{"mode": "quit"}`` ends it.

    PEER_PY benchmarks/speed_peer.py --sources /work/peers_src --manifests ../shared/peers \\
        --net b7_unet --threads 2
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from parity_peer import _bloodaxe, randomise, test_image


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """Their network (eval mode) and a function ``image uint8 H×W×3 RGB → their input``."""
    from hydra.utils import instantiate

    manifest = json.loads((args.manifests / f"{args.net}_manifest.json").read_text())
    dataset = _bloodaxe(args.sources / "bloodaxe")
    models = importlib.import_module("geopose.models")
    import albumentations as A
    from pytorch_toolbelt.datasets import INPUT_IMAGE_KEY
    from pytorch_toolbelt.utils import image_to_tensor

    torch.manual_seed(0)
    model = instantiate(manifest["config"], _recursive_=False)
    randomise(model, 0)
    model.eval()
    norm = A.Compose([A.Normalize(dataset.DATASET_MEAN, dataset.DATASET_STD)])

    def feed(image_rgb: np.ndarray, gsd: float) -> dict[str, torch.Tensor]:
        bgr = np.ascontiguousarray(image_rgb[..., ::-1])  # their reader gives BGR
        x = image_to_tensor(norm(image=bgr)["image"])[None]
        g = torch.tensor([[gsd]], dtype=torch.float32)
        return {INPUT_IMAGE_KEY: x, dataset.INPUT_GROUND_SAMPLE_DISTANCE: g}

    tta = models.wrap_model_with_tta(model, "d4").eval()
    return {"view": model, "d4": tta}, feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--manifests", type=Path, required=True)
    parser.add_argument("--net", default="b7_unet")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nets, feed = build(args)
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    warmed: set[int] = set()
    for line in sys.stdin:
        req = json.loads(line)
        if req["mode"] == "quit":
            break
        net, size = nets[req["mode"]], int(req["size"])
        image = test_image(size, 0)
        times = []
        with torch.no_grad():
            if size not in warmed:  # one untimed forward per tile size (allocations)
                nets["view"](**feed(image, 0.3))
                warmed.add(size)
            for _ in range(int(req.get("repeats", 1))):
                start = time.perf_counter()
                net(**feed(image, 0.3))
                times.append(time.perf_counter() - start)
        print(json.dumps({"seconds": times}), flush=True)


if __name__ == "__main__":
    main()
