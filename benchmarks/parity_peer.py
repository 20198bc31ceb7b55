"""The authors' side of the parity check (run by ``benchmarks/parity.py``; not geopose code).

Runs in a SEPARATE Python environment that has the authors' dependencies, with their
sources fetched outside this project (nothing of theirs is copied here). It builds one
of their networks with their own code and random weights (BatchNorm statistics
randomised too, so swapped tensors show), saves it in their own file format, and runs
it on an uint8 image through their own input path; TTA off, then their D4 TTA where
they have one. Outputs (AGL m, magnitude px, scale px/m, angle rad) go to an ``.npz``.

    PEER_PY benchmarks/parity_peer.py --sources /work/peers_src --net b7_unet \\
        --out DIR [--size 128] [--seed 0] [--gsd 0.3]

Shims (stated in the JSON it prints): torchvision's op schemas where a CUDA torchvision
sits on a CPU torch; ``timm.models.efficientnet_blocks`` aliased to its timm>=0.9 name;
inert stand-ins for modules their inference does not use (skimage, osgeo, smp's
timm-efficientnet family); their ``geopose/__init__.py`` (which imports their training
pipeline) is replaced by its ``from .dataset import *``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

SHIMS: list[str] = []


def _inert(name: str, **attrs: Any) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    SHIMS.append(f"{name}: inert stand-in")


def _unused(*_: Any, **__: Any) -> Any:
    raise RuntimeError("stand-in: not used at inference")


def _torchvision() -> None:
    try:
        import torchvision
    except RuntimeError:
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
        globals()["_TV_LIB"] = lib
        import torchvision  # noqa: F401

        SHIMS.append("torchvision: op schemas defined (CUDA wheel on CPU torch)")


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Random weights everywhere, BatchNorm statistics and affine included."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                mean, var = module.running_mean, module.running_var
                if mean is None or var is None:
                    continue
                mean.normal_(0.0, 0.2, generator=gen)
                var.uniform_(0.5, 1.5, generator=gen)
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.normal_(0.0, 0.2, generator=gen)
            elif isinstance(module, torch.nn.Conv2d | torch.nn.Linear | torch.nn.ConvTranspose2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, (1.0 / fan_in) ** 0.5, generator=gen)
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.1, generator=gen)


def test_image(size: int, seed: int) -> np.ndarray:
    """A structured H×W×3 uint8 RGB image: smooth blobs, edges and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), np.float32)
    for c in range(3):
        for _ in range(6):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            img[..., c] += rng.uniform(40, 120) * ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img + 40, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- 2nd place
def _bloodaxe(root: Path) -> Any:
    _torchvision()
    eb = importlib.import_module("timm.models._efficientnet_blocks")
    sys.modules["timm.models.efficientnet_blocks"] = eb
    SHIMS.append("timm.models.efficientnet_blocks aliased to timm.models._efficientnet_blocks")
    if importlib.util.find_spec("skimage") is None:
        _inert("skimage")
        _inert("skimage.measure", block_reduce=_unused)
    sys.path.insert(0, str(root))
    pkg = types.ModuleType("geopose")
    pkg.__path__ = [str(root / "geopose")]  # type: ignore[attr-defined]
    sys.modules["geopose"] = pkg
    dataset = importlib.import_module("geopose.dataset")
    for name in dataset.__all__:
        setattr(pkg, name, getattr(dataset, name))
    SHIMS.append("their geopose/__init__.py replaced by its `from .dataset import *`")
    return dataset


def run_bloodaxe(args: argparse.Namespace, manifest: dict[str, Any]) -> dict[str, Any]:
    import cv2
    from hydra.utils import instantiate

    dataset = _bloodaxe(args.sources / "bloodaxe")
    models = importlib.import_module("geopose.models")
    from pytorch_toolbelt.datasets import INPUT_IMAGE_KEY
    from pytorch_toolbelt.utils import image_to_tensor

    torch.manual_seed(args.seed)
    model = instantiate(manifest["config"], _recursive_=False)
    randomise(model, args.seed)
    model.eval()
    config = {
        "model": manifest["config"],
        "train": {"downsample": 1, "fold": 0},
        "dataset": {"data_dir": "/data"},
    }
    metrics = {
        "loss": np.float32(0.4321),
        "metrics/mean_r2": np.float64(0.8765),
        "metrics/agl_r2": np.float64(0.8888),
    }
    best = {
        "model_state_dict": model.state_dict(),
        "epoch_metrics": {"train": dict(metrics), "valid": dict(metrics)},
        "valid_metrics": dict(metrics),
        "stage_name": "train",
        "epoch": 42,
        "checkpoint_data": {"config": config},
    }
    out: Path = args.out
    torch.save(best, out / f"{args.net}_best.pth")
    train = dict(best)
    train.update(
        loader_name="valid",
        loader_step=1,
        global_epoch=42,
        main_metric="metrics/mean_r2",
        minimize_metric=False,
        valid_loader="valid",
    )
    torch.save(train, out / f"{args.net}_train.42.pth")

    image_rgb = test_image(args.size, args.seed)
    png = out / "image.png"
    cv2.imwrite(str(png), image_rgb[..., ::-1])  # a PNG holds RGB; cv2 writes from BGR
    # Their input path: cv2.imread (BGR), A.Normalize(DATASET_MEAN, DATASET_STD), to tensor.
    import albumentations as A

    bgr = dataset.read_bgr_opencv(str(png))
    norm = A.Compose([A.Normalize(dataset.DATASET_MEAN, dataset.DATASET_STD)])
    x = image_to_tensor(norm(image=bgr)["image"])[None]
    gsd = torch.tensor([[args.gsd]], dtype=torch.float32)
    feed = {INPUT_IMAGE_KEY: x, dataset.INPUT_GROUND_SAMPLE_DISTANCE: gsd}
    result: dict[str, Any] = {}
    with torch.no_grad():
        plain = model(**feed)
        tta = models.wrap_model_with_tta(model, "d4").eval()(**feed)
    result.update(
        agl=plain[dataset.OUTPUT_AGL_MASK][0, 0].numpy(),
        mag=plain[dataset.OUTPUT_MAGNITUDE_MASK][0, 0].numpy(),
        scale=float(plain[dataset.OUTPUT_VFLOW_SCALE].reshape(-1)[0]),
        angle=float(plain[dataset.OUTPUT_VFLOW_ANGLE].reshape(-1)[0]),
        d4_agl=tta[dataset.OUTPUT_AGL_MASK][0, 0].numpy(),
        d4_scale=float(tta[dataset.OUTPUT_VFLOW_SCALE].reshape(-1)[0]),
        d4_angle=float(tta[dataset.OUTPUT_VFLOW_ANGLE].reshape(-1)[0]),
    )
    return result


# --------------------------------------------------------------------------- baseline
def run_baseline(args: argparse.Namespace, manifest: dict[str, Any]) -> dict[str, Any]:
    import cv2

    _torchvision()
    _inert("segmentation_models_pytorch.encoders.timm_efficientnet", timm_efficientnet_encoders={})
    _inert("osgeo", gdal=None)
    sys.path.insert(0, str(args.sources / "baseline"))
    import segmentation_models_pytorch as smp
    from utilities.unet_vflow import UnetVFLOW  # type: ignore[import-not-found]

    torch.manual_seed(args.seed)
    model = UnetVFLOW("resnet34", encoder_weights=None)
    randomise(model, args.seed)
    model.eval()
    torch.save(model.state_dict(), args.out / "baseline_resnet34.pth")

    image = test_image(args.size, args.seed)  # their gdal read gives H×W×3 RGB
    cv2.imwrite(str(args.out / "image.png"), image[..., ::-1])
    down = args.downsample
    # Their Dataset.__getitem__ (is_test) and test(): nearest downsample, smp
    # preprocessing, forward, scale × downsample, AGL clamped at 0 and upsampled nearest.
    small = image
    if down > 1:
        small = cv2.resize(
            image,
            (int(image.shape[0] / down), int(image.shape[1] / down)),
            interpolation=cv2.INTER_NEAREST,
        )
    prep = smp.encoders.get_preprocessing_fn("resnet34", "imagenet")
    x = torch.from_numpy(np.transpose(prep(small).astype("float32"), (2, 0, 1))[None])
    with torch.no_grad():
        xydir, agl, mag, scale = model(x)
    agl_raw = agl[0, 0].numpy()
    size = (agl_raw.shape[0] * down, agl_raw.shape[1] * down)
    up = cv2.resize(agl_raw, size, interpolation=cv2.INTER_NEAREST)
    clamped = agl_raw.copy()
    clamped[clamped < 0] = 0
    return {
        "agl": up,
        "agl_written": cv2.resize(clamped, size, interpolation=cv2.INTER_NEAREST),
        "mag": cv2.resize(mag[0, 0].numpy(), size, interpolation=cv2.INTER_NEAREST) * down,
        "scale": float(scale.reshape(-1)[0]) * down,
        "angle": float(np.arctan2(xydir[0, 0].item(), xydir[0, 1].item())),
    }


# --------------------------------------------------------------------------- 1st place
def run_first_place(args: argparse.Namespace, manifest: dict[str, Any]) -> dict[str, Any]:
    import cv2

    _torchvision()
    import timm

    _inert("segmentation_models_pytorch.encoders.timm_efficientnet", timm_efficientnet_encoders={})
    _inert("osgeo", gdal=None)
    real_create = timm.create_model

    def create_untrained(name: str, *a: Any, **kw: Any) -> Any:
        kw["pretrained"] = False  # TimmUnet asks for pretrained=True (a download)
        return real_create(name, *a, **kw)

    timm.create_model = create_untrained
    SHIMS.append("timm.create_model: pretrained forced to False")
    sys.path.insert(0, str(args.sources / "challenge" / "1st Place"))
    from utilities.tta import predict_tta  # type: ignore[import-not-found]
    from utilities.unet import TimmUnet  # type: ignore[import-not-found]

    torch.manual_seed(args.seed)
    model = TimmUnet("tf_efficientnetv2_l_in21k", drop_path_rate=0.2)  # configs/v2l.json
    randomise(model, args.seed)
    model.eval()
    # Their train loop saves the DDP model: keys prefixed "module.".
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    ckpt = {"epoch": 31, "state_dict": state, "metrics": {"r2": np.float64(0.9123)}}
    torch.save(ckpt, args.out / "folds_TimmUnet_tf_efficientnetv2_l_in21k_5_r2")

    image = test_image(args.size, args.seed)  # their gdal read gives H×W×3 RGB
    cv2.imwrite(str(args.out / "image.png"), image[..., ::-1])
    # Their Dataset.__getitem__ (is_test, --downsample=1): CHW, (x / 255 - 0.5) * 2, then
    # images.float() in test(); forward; angle = arctan2(xydir[0], xydir[1]); AGL clamped
    # at 0 for the file. TTA: predict_tta (identity, hflip, vflip, both; a mean of each).
    x = torch.from_numpy((np.transpose(image, (2, 0, 1)) / 255.0 - 0.5) * 2)[None].float()

    class UnitDirection(torch.nn.Module):
        """Their model with each view's xydir normalised (geopose averages unit vectors)."""

        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
            result = dict(self.net(images))
            result["xydir"] = torch.nn.functional.normalize(result["xydir"], dim=1)
            return result

    with torch.no_grad():
        out = model(x)
        xydir, agl, _mag, scale = predict_tta([model], x)
        unit = predict_tta([UnitDirection(model)], x)[0]
    height = out["height"][0, 0].numpy()
    return {
        "agl": height,
        "agl_written": np.clip(height, 0, None),
        "mag": out["mag"][0, 0].numpy(),
        "scale": float(out["scale"].reshape(-1)[0]),
        "angle": float(np.arctan2(out["xydir"][0, 0].item(), out["xydir"][0, 1].item())),
        "d2_agl": agl[0, 0].numpy(),
        "d2_scale": float(scale.reshape(-1)[0]),
        "d2_angle": float(np.arctan2(xydir[0, 0].item(), xydir[0, 1].item())),
        "d2_angle_of_unit_views": float(np.arctan2(unit[0, 0].item(), unit[0, 1].item())),
    }


NETS = {
    "b7_unet": ("b7_unet_manifest.json", run_bloodaxe),
    "b6_rdtsc_unet": ("b6_rdtsc_unet_manifest.json", run_bloodaxe),
    "baseline": ("baseline_unet_vflow_manifest.json", run_baseline),
    "v2l": ("timm_unet_v2l_manifest.json", run_first_place),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, required=True, help="fetched sources folder")
    parser.add_argument("--manifests", type=Path, required=True, help="manifest folder")
    parser.add_argument("--net", choices=sorted(NETS), required=True)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--size", type=int, default=128, help="image side (px)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gsd", type=float, default=0.3, help="ground sample distance (m/px)")
    parser.add_argument("--downsample", type=int, default=2, help="baseline's --downsample")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_name, runner = NETS[args.net]
    manifest = json.loads((args.manifests / manifest_name).read_text())
    result = runner(args, manifest)
    arrays = {k: np.asarray(v) for k, v in result.items()}
    np.savez(args.out / "peer_outputs.npz", **arrays)
    print(json.dumps({"net": args.net, "shims": SHIMS, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
