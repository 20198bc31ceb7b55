"""Output parity of imported published models with their authors' own code; prints JSON.

For each network it runs ``parity_peer.py`` in the authors' environment (PEER_PYTHON,
sources fetched outside this project into SOURCES): their network with random weights,
saved in their file format, run on an uint8 image through their input path (TTA off,
then their D4 TTA). Then geopose imports that file (what ``geopose import`` does),
loads the format-2 checkpoint and runs the same image through its own input path (RGB in
[0, 1] from the PNG; the model applies the authors' input convention itself), and reports the
largest relative differences (AGL and magnitude: max |Δ| / max |theirs|; scale: |Δ| /
|theirs|; angle: |Δ| rad).

    .venv/bin/python benchmarks/parity.py [--sources /work/peers_src] \\
        [--peer-python /work/peers_venv/bin/python] [--nets b7_unet baseline] [--size 128]

Skips (exit 0, a JSON line saying why) when the sources or the peer environment are
absent.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

import geopose
from geopose.inference.tta import TTAModel
from geopose.io.raster import read_rgb
from geopose.models import load_model
from geopose.models.importer import import_published

HERE = Path(__file__).parent
FILES = {
    "b7_unet": "b7_unet_best.pth",
    "b6_rdtsc_unet": "b6_rdtsc_unet_best.pth",
    "baseline": "baseline_resnet34.pth",
    "v2l": "folds_TimmUnet_tf_efficientnetv2_l_in21k_5_r2",
}


def rel(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours − theirs| / max |theirs|."""
    return float(np.max(np.abs(ours - theirs)) / max(float(np.max(np.abs(theirs))), 1e-12))


def angle_diff(a: float, b: float) -> float:
    """|a − b| on the circle (rad)."""
    return abs((a - b + math.pi) % (2 * math.pi) - math.pi)


def run_peer(args: argparse.Namespace, net: str, out: Path) -> dict[str, Any]:
    if not (out / "peer_outputs.npz").is_file():
        cmd = [
            str(args.peer_python),
            str(HERE / "parity_peer.py"),
            "--sources",
            str(args.sources),
            "--manifests",
            str(Path(geopose.__file__).parent / "models" / "manifests"),
            "--net",
            net,
            "--out",
            str(out),
            "--size",
            str(args.size),
        ]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{net}: peer side failed: {done.stderr.strip()[-800:]}")
    return dict(np.load(out / "peer_outputs.npz"))


def check(args: argparse.Namespace, net: str) -> dict[str, Any]:
    out = args.work / net
    out.mkdir(parents=True, exist_ok=True)
    theirs = run_peer(args, net, out)
    path = out / FILES[net]
    imported = out / "imported.safetensors"
    found = import_published(path, imported)  # the `geopose import` path
    model = load_model(imported).eval()  # format 2: the input convention is in the model
    image = read_rgb(out / "image.png")
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    gsd = torch.tensor([args.gsd])
    # Their TTA: the 2nd place's D4, the 1st place's four flips (geopose's d2 views).
    mode = next((m for m in ("d4", "d2") if f"{m}_agl" in theirs), None)
    with torch.no_grad():
        ours = model(x, gsd)
        tta = TTAModel(model, mode).eval()(x, gsd) if mode is not None else None
    result: dict[str, Any] = {
        "network": found.network.name,
        "format": found.format,
        "preset": found.network.preset,
        "agl_rel": rel(ours["agl"][0, 0].numpy(), theirs["agl"]),
        "mag_rel": rel(ours["mag"][0, 0].numpy(), theirs["mag"]),
        "scale_rel": abs(float(ours["scale"][0]) - float(theirs["scale"]))
        / abs(float(theirs["scale"])),
        "angle_abs_rad": angle_diff(float(ours["angle"][0]), float(theirs["angle"])),
    }
    if tta is not None and f"{mode}_angle_of_unit_views" in theirs:
        # Their TTA averages raw direction vectors; geopose averages unit vectors.
        result[f"{mode}_angle_vs_their_unit_views_rad"] = angle_diff(
            float(tta["angle"][0]), float(theirs[f"{mode}_angle_of_unit_views"])
        )
    if "agl_written" in theirs:
        written = np.clip(ours["agl"][0, 0].numpy(), 0, None)
        result["agl_written_max_abs_cm"] = float(
            np.max(np.abs(np.round(written * 100) - np.round(theirs["agl_written"] * 100)))
        )
    if tta is not None:
        result.update(
            {
                f"{mode}_agl_rel": rel(tta["agl"][0, 0].numpy(), theirs[f"{mode}_agl"]),
                f"{mode}_scale_rel": abs(float(tta["scale"][0]) - float(theirs[f"{mode}_scale"]))
                / abs(float(theirs[f"{mode}_scale"])),
                f"{mode}_angle_abs_rad": angle_diff(
                    float(tta["angle"][0]), float(theirs[f"{mode}_angle"])
                ),
            }
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=Path("/work/peers_src"))
    parser.add_argument("--peer-python", type=Path, default=Path("/work/peers_venv/bin/python"))
    parser.add_argument("--work", type=Path, default=Path("/work/peers_work"))
    parser.add_argument("--nets", nargs="+", default=["b7_unet", "baseline"], choices=FILES)
    parser.add_argument("--size", type=int, default=128, help="image side (px)")
    parser.add_argument("--gsd", type=float, default=0.3, help="ground sample distance (m/px)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    missing = [
        str(p)
        for p in (args.sources / "bloodaxe", args.sources / "baseline", args.peer_python)
        if not p.exists()
    ]
    if missing:
        print(json.dumps({"skipped": f"authors' sources/environment absent: {missing}"}))
        return 0
    results = [check(args, net) for net in args.nets]
    print(json.dumps({"size": args.size, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
