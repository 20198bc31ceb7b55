"""The network a training run starts from (the run config's ``model`` section).

``model.weights`` names one of two kinds of file, told apart by its contents:

- a **geopose checkpoint** (safetensors with geopose metadata: a trained run's
  ``last``/``best-…`` file or an imported published model from ``geopose import``): the
  whole model — architecture, input convention (channel order, mean/std, resolution
  factor) and all weights — is rebuilt from the file (:func:`geopose.models.load_model`)
  and training continues from it (fine-tuning). ``model.pretrained`` is not used.
  ``model.preset`` is then only checked: when it is not the default (``tiny``) it must
  build the checkpoint's architecture (same encoder, decoder and heads; the name,
  description and input convention may differ, so ``--config b7-unet`` fine-tunes an
  imported ``b7-unet`` file with the authors' BGR convention); another architecture is
  a usage error naming both.
- **anything else** (a plain safetensors or torch state dict of the timm encoder): the
  preset is built and the file loaded into its encoder, strictly, as before.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from geopose.checkpoint import is_geopose_checkpoint
from geopose.config import ModelChoiceConfig
from geopose.errors import UsageError
from geopose.models import GeoposeModel, ModelSpec, create_model, get_preset, load_model

#: The preset a run config names when it names none (taken as "not given" above).
DEFAULT_PRESET = ModelChoiceConfig().preset


def same_architecture(a: ModelSpec, b: ModelSpec) -> bool:
    """Whether ``a`` and ``b`` build the same network (encoder, decoder, heads), whatever
    their names, descriptions and input conventions."""
    return (a.encoder, a.decoder, a.heads) == (b.encoder, b.decoder, b.heads)


@dataclasses.dataclass(frozen=True)
class StartModel:
    """The model a run trains, and one line saying where it came from."""

    model: GeoposeModel
    origin: str
    from_checkpoint: bool


def start_model(choice: ModelChoiceConfig) -> StartModel:
    """Build the run's model from ``choice`` (see the module text); in training mode."""
    weights = choice.weights
    if weights is None or not is_geopose_checkpoint(weights):
        pretrained: bool | str = weights or choice.pretrained
        model = create_model(choice.preset, pretrained=pretrained)
        how = f"encoder weights {weights}" if weights else "pretrained" if pretrained else "random"
        return StartModel(model.train(), f"preset {choice.preset} ({how})", False)
    model = load_model(weights)
    spec = model.spec
    if choice.preset != DEFAULT_PRESET:
        preset = get_preset(choice.preset)
        if not same_architecture(preset, spec):
            raise UsageError(
                f"model.weights {weights} is a geopose checkpoint of {spec.name!r} (encoder "
                f"{spec.encoder.name}), but model.preset {choice.preset} builds another "
                "network; give the checkpoint's preset or leave model.preset out"
            )
    conv = spec.input
    origin = (
        f"checkpoint {Path(weights).name} ({spec.name}, encoder {spec.encoder.name}, "
        f"input {conv.channel_order} ×{conv.value_range:g}, factor {conv.resolution_factor:g})"
    )
    return StartModel(model.train(), origin, True)
