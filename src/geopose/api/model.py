"""The model object of the public API: :func:`load_model`, :func:`create_model`,
:func:`list_models` and :meth:`Model.predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geopose.api.result import PoseResult
from geopose.config import deep_merge
from geopose.errors import UsageError
from geopose.inference.options import PredictOptions, network_predictor
from geopose.inference.raster import predict_in_memory, resolve_gsd
from geopose.io.layout import image_stem
from geopose.io.raster import GeoInfo, read_geo
from geopose.models import GeoposeModel, InputConvention, ModelSpec, list_presets, resolve_spec
from geopose.models import create_model as build_network
from geopose.models import load_model as load_network
from geopose.models import save_model as save_network

#: What :meth:`Model.predict` takes: an H×W×3 uint8 RGB array or an RGB raster file.
ImageLike = NDArray[np.uint8] | str | Path


class Model:
    """A geopose network with the conventions it was built with.

    Made by :func:`load_model` (a checkpoint) or :func:`create_model` (a preset).
    ``network`` is the ``torch.nn.Module`` itself (``network(image, gsd)`` on batches:
    image B×3×H×W float RGB in [0, 1], gsd B metres per pixel), for training loops of
    your own; its input convention (channel order, normalisation, resolution) travels
    inside it, so any RGB image goes in as is.

    Example:
        >>> import geopose
        >>> model = geopose.create_model("tiny")
        >>> model.name
        'tiny'
    """

    def __init__(self, network: GeoposeModel, source: Path | None = None) -> None:
        self.network = network
        #: The checkpoint the model was loaded from (``None`` when created).
        self.source = source

    @property
    def spec(self) -> ModelSpec:
        """The complete description the network is built from (architecture and input
        convention); saved with it."""
        return self.network.spec

    @property
    def name(self) -> str:
        """The preset (or label) the model was made from."""
        return self.spec.name

    @property
    def input(self) -> InputConvention:
        """What the network expects (channel order, mean/std, resolution factor); the
        model converts RGB in [0, 1] to it itself."""
        return self.spec.input

    def predict(
        self,
        image: ImageLike,
        gsd: float | None = None,
        *,
        tta: str = "d4",
        precision: str = "auto",
        device: str = "auto",
        threads: int | None = None,
        batch_size: int = 1,
        window: int = 2048,
        overlap: int = 256,
        max_views_batch: int | None = None,
        shrink_flow: bool = False,
        progress: bool = False,
        backend: str = "auto",
    ) -> PoseResult:
        """Predict height above ground and the vertical flow of one image of any size.

        Args:
            image: an H×W×3 ``uint8`` RGB array, or an RGB raster file (GeoTIFF, JPEG
                2000, PNG), read window by window.
            gsd: ground sample distance in metres per pixel. ``None``: read from the
                file's projected CRS and transform (an error naming the file when it
                has none; an array always needs it).
            tta: test-time augmentation: ``none``, ``flip`` (2 views), ``d2`` (4) or
                ``d4`` (8).
            precision: ``fp32``, ``bf16``, ``fp16`` (CUDA) or ``auto`` (bf16 on a
                capable GPU, else fp32).
            device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or
                ``cuda:N``. The network moves there and is put in eval mode.
            threads: torch CPU threads (``None``: torch's default).
            batch_size: windows per forward pass, each with all its TTA views.
            window: sliding-window size in pixels; smaller images run in one pass.
            overlap: overlap of sliding windows in pixels (cosine-blended).
            max_views_batch: at most this many images per forward pass (memory).
            shrink_flow: multiply the scale by the TTA views' direction agreement (the
                flow with the least expected error under the official metric; no longer
                the physical lean).
            progress: a progress bar on stderr.
            backend: what runs the network: ``torch``, ``onnx`` (ONNX Runtime, CPU,
                fp32; the network is exported once and cached) or ``auto`` (onnx on a CPU
                at fp32, where it is faster, else torch).

        Returns:
            A :class:`PoseResult`: ``agl`` (H×W float32 m, NaN = no data), ``angle``
            (rad), ``scale`` (px/m), ``direction``, and the input's georeferencing for
            :meth:`PoseResult.save` and :meth:`PoseResult.to_geotiff`.

        Example:
            >>> import numpy as np
            >>> image = np.zeros((64, 64, 3), dtype=np.uint8)
            >>> result = geopose.create_model("tiny").predict(image, gsd=0.3, tta="none")
            >>> result.agl.shape, result.agl.dtype
            ((64, 64), dtype('float32'))
        """
        options = PredictOptions(
            tta=tta,
            precision=precision,
            device=device,
            threads=threads,
            batch_size=batch_size,
            window=window,
            overlap=overlap,
            max_views_batch=max_views_batch,
            shrink_flow=shrink_flow,
            backend=backend,
        )
        geo: GeoInfo | None = None
        if isinstance(image, str | Path):
            path = Path(image)
            gsd_m, _ = resolve_gsd(path, gsd)
            name, found = image_stem(path), read_geo(path)
            geo = found if found.is_georeferenced else None
        else:
            if gsd is None:
                raise UsageError("gsd: an array carries no georeferencing; give its GSD in m/px")
            gsd_m, name = float(gsd), "image"
        predictor = network_predictor(self.network, options)
        agl, result = predict_in_memory(predictor, image, gsd_m, progress=progress)
        return PoseResult(
            agl=agl,
            angle=result.angle,
            scale=result.scale,
            gsd=gsd_m,
            name=name,
            geo=geo,
            agreement=result.agreement,
        )

    def save(self, path: str | Path) -> Path:
        """Write the model to a checkpoint (``.safetensors`` weights with the model's
        spec; :func:`load_model` rebuilds it without the preset). Returns the path.

        Example:
            >>> model.save("my_model.safetensors")  # doctest: +SKIP
        """
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_network(out, self.network)
        return out

    def __repr__(self) -> str:
        where = f", source={str(self.source)!r}" if self.source is not None else ""
        return f"Model({self.name!r}, encoder={self.spec.encoder.name!r}{where})"


def load_model(path: str | Path, *, device: str = "cpu") -> Model:
    """Load a geopose checkpoint (``.safetensors``) into a :class:`Model`.

    The checkpoint carries its architecture and input convention, so the model is
    rebuilt exactly as it was trained (or imported with ``geopose import``); the
    weights load strictly. Nothing is unpickled.

    Args:
        path: a checkpoint written by ``geopose train`` (``RUN/checkpoints/*.safetensors``),
            ``geopose import`` or :meth:`Model.save`.
        device: where the weights go (``cpu``, ``cuda``, ``cuda:N``).

    Example:
        >>> model = geopose.load_model("run/checkpoints/last.safetensors")  # doctest: +SKIP
        >>> model.predict("scene.tif").to_geotiff("scene_AGL.tif")  # doctest: +SKIP
    """
    return Model(load_network(path, device), Path(path))


def create_model(
    preset: str | ModelSpec = "tiny",
    *,
    pretrained: bool | str | Path = False,
    weights: str | Path | None = None,
    **overrides: Any,
) -> Model:
    """Build a new model from a preset (see :func:`list_models`).

    Args:
        preset: a preset name, or a :class:`geopose.models.ModelSpec`.
        pretrained: ``False`` (random encoder weights), ``True`` (timm's pretrained
            encoder: needs a download or timm's cache) or a local encoder weights file.
        weights: a local file with the whole model's weights, loaded strictly.
        **overrides: fields of the preset's spec to change; a dict merges into the
            field key by key (``encoder={"name": "test_resnet"}``,
            ``input={"resolution_factor": 0.5}``), anything else replaces it
            (``name="mine"``, ``heads=[...]``).

    Example:
        >>> model = geopose.create_model("tiny", decoder={"channels": [32, 24, 16, 8]})
        >>> model.spec.decoder.channels
        (32, 24, 16, 8)
    """
    spec = resolve_spec(preset)
    if overrides:
        spec = ModelSpec.from_dict(deep_merge(spec.to_dict(), overrides))
    return Model(build_network(spec, pretrained=pretrained, weights=weights))


def list_models() -> list[str]:
    """Names of the model presets :func:`create_model` builds, in registry order
    (``geopose models`` prints them with their sizes).

    Example:
        >>> "tiny" in geopose.list_models()
        True
    """
    return list_presets()
