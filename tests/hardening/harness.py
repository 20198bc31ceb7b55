"""Helpers of the hardening suite: run ``python -m geopose`` as a user does, break files,
and make the checks every bad-input case makes.

Every case runs the real command in a child process on real files and looks only at
what a user sees: the exit code, stdout, stderr and the files left in the output folder.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

#: Seconds one child command may take before the test fails (a hang is a failure;
#: generous because a shared, loaded machine can be 50× slower than an idle one).
TIMEOUT_S = 3000
#: Side of the synthetic tiles (px): the tiny model takes multiples of 32.
TILE = 64


@dataclasses.dataclass(frozen=True)
class Ran:
    """What a child ``geopose`` command did: exit code and its two streams."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def child_env() -> dict[str, str]:
    """The environment of a child command: one CPU thread, no GPU, no colour."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONWARNINGS", None)
    return env


def geopose(
    *args: str | Path,
    timeout: float = TIMEOUT_S,
    preexec_fn: Callable[[], None] | None = None,
    cwd: Path | None = None,
) -> Ran:
    """Run ``python -m geopose ARGS`` in a child process and return what it did."""
    cmd = [sys.executable, "-m", "geopose", *map(str, args)]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        preexec_fn=preexec_fn,
        cwd=cwd,
        check=False,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_failure(ran: Ran, code: int, *fragments: str) -> None:
    """The command failed the way DESIGN §6 promises: exit ``code``, no traceback, and
    every fragment (file names, the problem) said on stdout or stderr."""
    assert ran.code == code, f"exit {ran.code}, wanted {code}\n{ran.text}"
    assert "Traceback" not in ran.text, ran.text
    assert "--debug for the traceback" not in ran.text, f"an unexpected exception:\n{ran.text}"
    for fragment in fragments:
        assert fragment in ran.text, f"{fragment!r} not said:\n{ran.text}"


def error_lines(ran: Ran) -> list[str]:
    """The ``geopose VERB: error:`` lines of stderr."""
    return [line for line in ran.err.splitlines() if ": error:" in line]


def leftovers(folder: Path) -> list[Path]:
    """Temporary files an interrupted or failed write left behind (there must be none)."""
    return sorted(p for p in folder.rglob("*") if ".tmp" in p.name)


def copy_layout(src: Path, dst: Path) -> Path:
    """A private copy of a layout to break."""
    shutil.copytree(src, dst)
    return dst


def ids_of(root: Path, split: str) -> list[str]:
    """Ids listed in a split's CSV, in order."""
    csv = root / ("geopose_train.csv" if split == "train" else "geopose_test.csv")
    return [line.split(",")[0] for line in csv.read_text().splitlines()[1:]]


def rewrite(path: Path, fn: Callable[[str], str]) -> None:
    """Replace a text file's content by ``fn(content)``."""
    path.write_text(fn(path.read_text(encoding="utf-8")), encoding="utf-8")


def flip_bytes(path: Path, start_fraction: float, count: int = 64) -> None:
    """Overwrite ``count`` bytes from ``start_fraction`` of the file with 0xA5."""
    data = bytearray(path.read_bytes())
    at = int(len(data) * start_fraction)
    data[at : at + count] = b"\xa5" * len(data[at : at + count])
    path.write_bytes(bytes(data))


def truncate(path: Path, keep_fraction: float) -> None:
    """Cut a file to ``keep_fraction`` of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def written_ids(out: Path) -> set[str]:
    """Ids with both prediction files in ``out``."""
    agl = {p.name[: -len("_AGL.tif")] for p in out.glob("*_AGL.tif")}
    vflow = {p.name[: -len("_VFLOW.json")] for p in out.glob("*_VFLOW.json")}
    return agl & vflow


def nonempty(paths: Sequence[Path]) -> bool:
    return all(p.stat().st_size > 0 for p in paths)
