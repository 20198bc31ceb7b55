"""MkDocs hooks of the documentation site (``mkdocs.yml``; ``make docs`` builds it).

Pages made at build time, never copied by hand:

- ``index.md``: the README, its links into ``docs/`` made relative to the site;
- ``cli/index.md`` and ``cli/<verb>.md``: the ``--help`` text of ``geopose`` and of each
  verb, from the parser the command itself builds (``geopose.cli.build_parser``); the
  nav entry ``cli/index.md`` is expanded into one page per verb.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
CLI_INDEX = "cli/index.md"
#: Terminal width the help text is formatted for (argparse reads COLUMNS).
HELP_COLUMNS = "88"


def _verbs() -> tuple[argparse.ArgumentParser, dict[str, tuple[argparse.ArgumentParser, str]]]:
    """The ``geopose`` parser and ``{verb: (its parser, its one-line help)}`` in order."""
    os.environ["COLUMNS"] = HELP_COLUMNS
    from geopose.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._get_subactions()}
            return parser, {v: (p, helps.get(v, "")) for v, p in action.choices.items()}
    raise RuntimeError("geopose.cli.build_parser has no verbs")


def _help_block(parser: argparse.ArgumentParser) -> str:
    return "```text\n" + parser.format_help().rstrip() + "\n```\n"


def cli_pages() -> dict[str, str]:
    """``{path: markdown}`` of the command-line pages."""
    parser, verbs = _verbs()
    index = [
        "# Command line\n",
        "One `geopose` command, one verb per job (`python -m geopose` works the same). "
        "Each page shows the verb's `--help`, generated from the command itself when "
        "the site is built.\n",
        "| verb | what it does |",
        "|---|---|",
    ]
    pages: dict[str, str] = {}
    for verb, (sub, summary) in verbs.items():
        index.append(f"| [`{verb}`]({verb}.md) | {summary} |")
        pages[f"cli/{verb}.md"] = f"# geopose {verb}\n\n{_help_block(sub)}"
    index += ["", "## geopose --help", "", _help_block(parser)]
    pages[CLI_INDEX] = "\n".join(index)
    return pages


def readme_page() -> str:
    """The README as the site's home page: ``docs/`` dropped from its links."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.sub(r"\]\(docs/", "](", text)


def on_config(config: Any) -> Any:
    """Expand the nav entry ``cli/index.md`` into the overview and one page per verb."""
    _, verbs = _verbs()
    pages = [CLI_INDEX, *(f"cli/{verb}.md" for verb in verbs)]

    def expand(items: list[Any]) -> list[Any]:
        out = []
        for item in items:
            if isinstance(item, dict):
                ((title, value),) = item.items()
                if value == CLI_INDEX:
                    value = pages
                elif isinstance(value, list):
                    value = expand(value)
                out.append({title: value})
            else:
                out.append(item)
        return out

    config["nav"] = expand(config["nav"])
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add the generated pages."""
    files.append(File.generated(config, "index.md", content=readme_page()))
    for path, text in cli_pages().items():
        files.append(File.generated(config, path, content=text))
    return files
