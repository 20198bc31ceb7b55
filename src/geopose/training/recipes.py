"""Training recipes shipped with the package (``geopose/configs/*.yaml``).

``--config`` takes a path to a YAML file or the name of a shipped recipe: ``tiny`` (CPU
tests and demos), ``b0-unet`` (a real CPU-friendly run), ``b7-unet`` and
``b6-rdtsc-unet`` (the 2nd place's recipes), ``v2l-unet`` (the 1st place's).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from geopose.config import Config, load_config
from geopose.errors import UsageError


def recipe_names() -> list[str]:
    """Names of the shipped recipes."""
    folder = resources.files("geopose") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def recipe_path(name_or_path: str) -> Path:
    """The YAML file of a recipe name, or ``name_or_path`` itself when it is a file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.exists():
            raise UsageError(f"{candidate}: config file not found")
        return candidate
    shipped = resources.files("geopose") / "configs" / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise UsageError(
            f"--config {name_or_path!r}: neither a file nor a shipped recipe "
            f"({', '.join(recipe_names())})"
        )
    return Path(str(shipped))


def run_config(
    recipe: str | Path | None = None,
    overrides: Sequence[str] = (),
    data: str | Path | None = None,
) -> Config:
    """The config of a new run: defaults ← ``recipe`` (a shipped name or a YAML file) ←
    ``key=value`` ``overrides`` ← ``data`` as ``data.root`` (made absolute, so that the
    run can be resumed from any working directory)."""
    texts = list(overrides)
    if data is not None:
        texts.append(f"data.root={Path(data).resolve()}")
    path = recipe_path(str(recipe)) if recipe is not None else None
    return load_config(path, texts)
