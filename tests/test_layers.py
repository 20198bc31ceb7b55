"""Imports point one way: a module never imports a layer above its own.

The walk reads every module of ``src/geopose`` with :mod:`ast`, so function-level
(lazy) imports count as much as top-level ones. The layer table is the one in
docs/architecture.md; a new top-level module or package must be added to it (the walk
fails on a module it cannot place).

Rules:

1. a module imports only modules of its own layer or of a layer below;
2. nothing outside ``geopose.commands`` (and ``geopose.cli`` / ``geopose.__main__``,
   which dispatch to the verbs) imports ``geopose.commands``;
3. a verb does not import another verb: ``geopose.commands.X`` never imports
   ``geopose.commands.Y`` (what two verbs share lives in a library layer below); the
   one exception is ``geopose.commands.common``, the options every verb shares, which
   is not a verb;
4. the public API ``geopose.api`` is the top layer, imported by nothing below it
   except the package itself (``geopose/__init__.py``), whose PEP 562 ``__getattr__``
   serves the API's names lazily.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: The layers, lowest first. A module belongs to the layer of the longest prefix that
#: names it (``geopose.io.raster`` → ``geopose.io``). Keep in step with
#: docs/architecture.md.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "geopose",  # the package itself: __version__, the torchvision guard
            "geopose._torchvision_guard",
            "geopose.errors",
            "geopose.conventions",
            "geopose.config",
        ),
    ),
    ("io", ("geopose.io", "geopose.runtime", "geopose.precision")),
    (
        "domain",
        (
            "geopose.data",
            "geopose.transforms",
            "geopose.models",
            "geopose.losses",
            "geopose.metrics",
            "geopose.intervals",
            "geopose.checkpoint",
            "geopose.rectification",
            "geopose.label",
            "geopose.buildings",
        ),
    ),
    ("jobs", ("geopose.training", "geopose.inference", "geopose.scoring", "geopose.export")),
    ("report", ("geopose.report", "geopose.viz")),
    ("commands", ("geopose.commands", "geopose.cli", "geopose.__main__")),
    ("api", ("geopose.api",)),
)

#: The one module below the API allowed to import it: the package, re-exporting it lazily.
API_FACADE = "geopose"

#: Modules allowed to import ``geopose.commands`` (the dispatcher).
COMMAND_DISPATCHERS = ("geopose.cli", "geopose.__main__")
#: Modules of ``geopose.commands`` that are not verbs (every verb may import them).
COMMAND_HELPERS = ("common",)


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen in ``module`` at ``line``."""

    module: str
    target: str
    line: int


def _prefix_match(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _places(module: str, prefix: str) -> bool:
    """``prefix`` names ``module``; the bare package ``geopose`` names only itself and
    its dunder attributes (``geopose.__version__``), not every module under it."""
    if prefix == "geopose":
        rest = module.split(".")[1:]
        return not rest or (rest[0].startswith("__") and rest[0] != "__main__")
    return _prefix_match(module, prefix)


def layer_of(module: str, layers: Sequence[tuple[str, Sequence[str]]] = LAYERS) -> int:
    """Index of ``module``'s layer (0 = lowest); ``LookupError`` when the table lacks it."""
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for index, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if _places(module, prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    if best is None:
        raise LookupError(f"{module}: not in the layer table of tests/test_layers.py")
    return best[1]


def module_name(path: Path, src: Path = SRC) -> str:
    """Dotted module name of a source file (``geopose/io/__init__.py`` → ``geopose.io``)."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every ``geopose`` import in ``source`` (top-level, in functions, under
    ``TYPE_CHECKING``), relative imports resolved against ``module``.

    ``from geopose.x import y`` counts as importing ``geopose.x.y`` when that may be a
    submodule; :func:`layer_of` places both the same way unless ``y`` is a package of
    its own in the table (``from geopose import commands``)."""
    found: list[Import] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.append(Import(module, f"{base}.{alias.name}", node.lineno))
    return [i for i in found if _prefix_match(i.target, "geopose")]


def package_imports(src: Path = SRC) -> Iterator[Import]:
    """The imports of every module under ``src/geopose``."""
    for path in sorted((src / "geopose").rglob("*.py")):
        name = module_name(path, src)
        yield from imports_in(path.read_text(), name, path.name == "__init__.py")


def violations(
    imports: Sequence[Import], layers: Sequence[tuple[str, Sequence[str]]] = LAYERS
) -> list[str]:
    """One line per import that breaks a rule of the module text."""
    bad: list[str] = []
    for imp in imports:
        here, there = layer_of(imp.module, layers), layer_of(imp.target, layers)
        where = f"{imp.module}:{imp.line} imports {imp.target}"
        if imp.module == API_FACADE and _prefix_match(imp.target, "geopose.api"):
            continue
        if there > here:
            bad.append(f"{where}: layer {layers[there][0]!r} is above {layers[here][0]!r}")
        elif _prefix_match(imp.target, "geopose.commands"):
            if not any(
                _prefix_match(imp.module, m) for m in ("geopose.commands", *COMMAND_DISPATCHERS)
            ):
                bad.append(f"{where}: only the command line imports geopose.commands")
            elif _prefix_match(imp.module, "geopose.commands") and imp.target != "geopose.commands":
                verb = imp.module.split(".")[2] if imp.module.count(".") >= 2 else None
                other = imp.target.split(".")[2]
                if verb is not None and other not in (verb, *COMMAND_HELPERS):
                    bad.append(f"{where}: a verb imports another verb")
    return bad


# ----------------------------------------------------------------------------- the package
def test_every_module_has_a_layer() -> None:
    modules = {module_name(p) for p in (SRC / "geopose").rglob("*.py")}
    for module in sorted(modules):
        layer_of(module)  # raises for a module the table misses


def test_imports_point_down() -> None:
    imports = list(package_imports())
    assert len(imports) > 200, "the walk found too few imports; is SRC right?"
    assert violations(imports) == []


# ----------------------------------------------------------------------------- the walker
def test_walker_sees_lazy_relative_and_type_checking_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import geopose.io\n"
        "if TYPE_CHECKING:\n"
        "    from geopose.training.trainer import Trainer\n"
        "def f():\n"
        "    from geopose.report import make_report\n"
        "    from . import raster\n"
        "    from ..models import create_model\n"
    )
    found = imports_in(source, "geopose.inference.predictor")
    assert [(i.target, i.line) for i in found] == [
        ("geopose.io", 2),
        ("geopose.training.trainer.Trainer", 4),
        ("geopose.report.make_report", 6),
        ("geopose.inference.raster", 7),
        ("geopose.models.create_model", 8),
    ]


def test_an_upward_import_fails() -> None:
    up = Import("geopose.inference.predictor", "geopose.report.make_report", 6)
    down = Import("geopose.inference.predictor", "geopose.models.create_model", 8)
    assert violations([down]) == []
    (message,) = violations([up, down])
    assert "geopose.inference.predictor:6" in message
    assert "'report'" in message


def test_a_library_importing_the_command_line_fails() -> None:
    # scoring and commands.evaluate were once one module: the rule keeps them apart even
    # though the import would otherwise point at a layer two above.
    imports = [
        Import("geopose.scoring", "geopose.commands.evaluate.find_tasks", 1),
        Import("geopose.commands.demo", "geopose.commands.evaluate.format_table", 2),
        Import("geopose.commands.demo", "geopose.commands.demo.DEFAULTS", 3),
        Import("geopose.cli", "geopose.commands.demo", 4),
        Import("geopose.commands.train", "geopose.commands.common.add_json_option", 5),
    ]
    bad = violations(imports)
    assert len(bad) == 2
    assert bad[0].startswith("geopose.scoring:1")
    assert bad[1].startswith("geopose.commands.demo:2")
    assert "another verb" in bad[1]


def test_same_layer_and_foundation_imports_pass() -> None:
    imports = [
        Import("geopose.data.dataset", "geopose.transforms.Compose", 1),
        Import("geopose.training.trainer", "geopose.runtime.Runtime", 2),
        Import("geopose.report", "geopose.__version__", 3),
    ]
    assert violations(imports) == []


def test_a_module_outside_the_table_is_reported() -> None:
    with pytest.raises(LookupError, match=r"geopose\.newthing"):
        layer_of("geopose.newthing.x")


def test_only_the_package_itself_imports_the_api() -> None:
    imports = [
        Import("geopose", "geopose.api", 1),  # the lazy __getattr__
        Import("geopose", "geopose.api.Model", 2),  # under TYPE_CHECKING
        Import("geopose.api.model", "geopose.inference.options.PredictOptions", 3),
        Import("geopose.inference.raster", "geopose.api.result.PoseResult", 4),
        Import("geopose.commands.predict", "geopose.api", 5),
    ]
    bad = violations(imports)
    assert len(bad) == 2
    assert bad[0].startswith("geopose.inference.raster:4")
    assert bad[1].startswith("geopose.commands.predict:5")
    assert all("'api'" in line for line in bad)
