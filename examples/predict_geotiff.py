"""Predict one GeoTIFF with a trained model, save a georeferenced AGL and plot it.

    python examples/predict_geotiff.py MODEL.safetensors SCENE.tif --out OUT [--gsd 0.3]

Writes OUT/{stem}_AGL.tif (uint16 cm with the scene's CRS and transform),
OUT/{stem}_VFLOW.json and OUT/{stem}_plot.png (RGB | AGL with the flow direction).
Without --gsd the GSD (m/px) is read from the scene's projected CRS.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt
import numpy as np

import geopose
from geopose.io import read_rgb


def plot(image: np.ndarray, result: geopose.PoseResult, path: Path) -> None:
    """RGB | AGL (m) side by side, an arrow along the vertical flow (roof → footprint)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    left.imshow(image)
    left.set_title("RGB")
    shown = right.imshow(result.agl, cmap="viridis")
    fig.colorbar(shown, ax=right, label="height above ground (m)")
    right.set_title(f"AGL; flow {np.degrees(result.angle):.0f}°, {result.scale:.3f} px/m")
    h, w = result.agl.shape
    dx, dy = result.direction
    for ax in (left, right):
        ax.annotate(
            "",
            xy=(w / 2 + dx * w / 4, h / 2 + dy * h / 4),
            xytext=(w / 2, h / 2),
            arrowprops={"color": "red", "width": 2},
        )
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="geopose checkpoint (.safetensors)")
    parser.add_argument("scene", type=Path, help="RGB GeoTIFF (or j2k / png with --gsd)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--gsd", type=float, help="metres per pixel (default: from the CRS)")
    parser.add_argument("--tta", default="d4", help="none, flip, d2 or d4 (default d4)")
    args = parser.parse_args(argv)

    model = geopose.load_model(args.model)
    result = model.predict(args.scene, gsd=args.gsd, tta=args.tta)
    agl_path, vflow_path = result.save(args.out)
    plot(read_rgb(args.scene), result, args.out / f"{result.name}_plot.png")
    print(result)
    print(f"wrote {agl_path}, {vflow_path} and {args.out / f'{result.name}_plot.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
