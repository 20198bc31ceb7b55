"""Synthetic oblique cities with exact AGL and vertical-flow labels.

Public API (used by augmentation tests, engines and the demo):

- :func:`render_agl` — the exact ray rule of DESIGN.md §1 over a height field.
- :func:`generate_sample` — one labelled Sample (DESIGN.md §4) of a city preset.
- :func:`write_dataset` — a complete competition layout (``geopose synth``).
"""

from geopose.data.synth.dataset import SynthSummary, write_dataset
from geopose.data.synth.flaws import LabelFlaws
from geopose.data.synth.presets import CityPreset, load_presets
from geopose.data.synth.raytrace import render_agl, shadow_height, trace
from geopose.data.synth.sample import generate_sample

__all__ = [
    "CityPreset",
    "LabelFlaws",
    "SynthSummary",
    "generate_sample",
    "load_presets",
    "render_agl",
    "shadow_height",
    "trace",
    "write_dataset",
]
