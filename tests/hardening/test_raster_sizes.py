"""Rasters of extreme sizes through ``predict --image``: 5×5 px, and 20,000×20,000 px.

The large raster is a compressed, mostly flat GeoTIFF (1.2 GB of pixels once decoded):
predict must window it, reading and writing a window row at a time. The child reports
its own peak memory (``resource.getrusage``), which must stay far below one decoded
copy of the image. The model runs at 1/16 of the input resolution (an input convention
a checkpoint may carry), so the test measures the windowing, not the network.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from geopose.io import read_agl, read_vflow
from geopose.io.raster import raster_info
from geopose.models import create_model, save_model
from hardening.harness import TIMEOUT_S, assert_clean_failure, child_env, geopose, leftovers

HUGE = 20_000
#: Peak resident memory (MiB) the 20k raster's prediction may reach: below the 1,144 MiB
#: of one decoded RGB copy alone (holding the image and a float AGL map whole would need
#: 2,670 MiB). It covers the interpreter with torch (~400 MiB), one window row of blend
#: buffers (1024 × 20,000 float32 values and weights: 156 MiB) and the rows handed out;
#: measured ~980 MiB. The child reports its own high-water mark (``peak_rss_mib``):
#: ``getrusage`` would report the pytest process's peak, which a forked child inherits.
MAX_RSS_MB = 1100


def _write_tif(path: Path, height: int, width: int, rows: int = 1000) -> None:
    """A tiled deflate RGB GeoTIFF: flat grey with one bright square per 4,000 px."""
    profile = dict(
        driver="GTiff", width=width, height=height, count=3, dtype="uint8",
        compress="deflate", tiled=True, blockxsize=512, blockysize=512,
        crs="EPSG:32617", transform=rasterio.transform.from_origin(500000, 4000000, 0.3, 0.3),
    )  # fmt: skip
    with warnings.catch_warnings(), rasterio.open(path, "w", **profile) as ds:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        for top in range(0, height, rows):
            n = min(rows, height - top)
            block = np.full((3, n, width), 118, dtype=np.uint8)
            if (top // rows) % 4 == 0:
                block[:, : n // 2, ::4000] = 250
            ds.write(block, window=Window(0, top, width, n))


def test_five_pixel_image(tiny_ckpt: Path, tmp_path: Path) -> None:
    image = tmp_path / "AOI_small_RGB.tif"
    _write_tif(image, 5, 5)
    out = tmp_path / "out"
    ran = geopose(
        "predict", "--checkpoint", tiny_ckpt, "--image", image, "--gsd", "0.3", "--out", out,
        "--tta", "d4", "--no-progress",
    )  # fmt: skip
    assert ran.code == 0, ran.text
    agl = read_agl(out / "AOI_small_AGL.tif")
    assert agl.shape == (5, 5)
    assert np.isfinite(agl).all()
    read_vflow(out / "AOI_small_VFLOW.json")


@pytest.mark.parametrize("gsd", ["0", "-0.3", "nan", "inf"])
def test_bad_gsd_on_the_command_line_is_a_usage_error(
    gsd: str, tiny_ckpt: Path, tmp_path: Path
) -> None:
    image = tmp_path / "AOI_small_RGB.tif"
    _write_tif(image, 5, 5)
    from geopose.cli import main

    assert main(["predict", "--checkpoint", str(tiny_ckpt), "--image", str(image),
                 f"--gsd={gsd}", "--out", str(tmp_path / "o"), "--no-progress"]) == 2  # fmt: skip
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_huge_raster_is_windowed_not_held(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("tiny")
    coarse = dataclasses.replace(
        model.spec, input=dataclasses.replace(model.spec.input, resolution_factor=1 / 16)
    )
    ckpt = tmp_path / "coarse.safetensors"
    save_model(ckpt, create_model(coarse))
    image = tmp_path / "AOI_huge_RGB.tif"
    _write_tif(image, HUGE, HUGE)
    assert image.stat().st_size < 50e6  # compressed: mostly flat
    out = tmp_path / "out"
    child = (
        "import sys\n"
        "from geopose.cli import main\n"
        "from geopose.runtime import peak_rss_mib\n"
        "code = main(sys.argv[1:])\n"
        "print(f'PEAK_RSS_MIB {peak_rss_mib()}', file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    args = ["predict", "--checkpoint", str(ckpt), "--image", str(image), "--gsd", "0.3",
            "--out", str(out), "--tta", "none", "--window", "1024", "--overlap", "64",
            "--no-progress"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", child, *args],
        capture_output=True, text=True, env=child_env(), timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    peak_mb = float(proc.stderr.split("PEAK_RSS_MIB")[1].split()[0])
    assert peak_mb < MAX_RSS_MB, f"peak {peak_mb:.0f} MiB"
    info = raster_info(out / "AOI_huge_AGL.tif")
    assert (info.height, info.width, info.dtype) == (HUGE, HUGE, "uint16")
    read_vflow(out / "AOI_huge_VFLOW.json")
    assert leftovers(out) == []


def test_image_that_is_not_rgb_is_named(tiny_ckpt: Path, tmp_path: Path) -> None:
    image = tmp_path / "AOI_gray_RGB.tif"
    with (
        warnings.catch_warnings(),
        rasterio.open(image, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint16") as ds,
    ):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        ds.write(np.zeros((1, 8, 8), np.uint16))
    ran = geopose(
        "predict", "--checkpoint", tiny_ckpt, "--image", image, "--gsd", "0.3",
        "--out", tmp_path / "out", "--no-progress",
    )  # fmt: skip
    assert_clean_failure(ran, 1, str(image), "expected 8-bit RGB")
