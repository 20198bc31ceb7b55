"""Outputs that cannot be written: a read-only folder, a full disk, a file-size limit.

The job cannot finish: ``predict`` stops with exit 3 and one line naming the file it
was writing, leaves no temporary or partial file, and a rerun once the cause is gone
writes everything. The full disk is real where the suite may mount a small tmpfs
(root on Linux); everywhere else the same write failure comes from ``RLIMIT_FSIZE`` in
the child (writes past the limit fail with EFBIG; SIGXFSZ is ignored so the write
returns the error instead of killing the process).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardening.harness import (
    assert_clean_failure,
    error_lines,
    geopose,
    ids_of,
    leftovers,
    written_ids,
)

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _without_root_override() -> None:
    """In the child, before exec: drop root's right to ignore file permissions, so a
    read-only folder is read-only for it too (no-op for other users)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _can_drop_override() -> bool:
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(
        ["true"], preexec_fn=_without_root_override, check=False, capture_output=True
    )
    return probe.returncode == 0


def test_read_only_output_folder(layout: Path, tiny_ckpt: Path, tmp_path: Path) -> None:
    if not _can_drop_override():
        pytest.skip("cannot drop root's permission override here")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        ran = geopose(
            "predict", "--checkpoint", tiny_ckpt, "--data", layout, "--out", out,
            "--tta", "none", "--no-progress", preexec_fn=_without_root_override,
        )  # fmt: skip
    finally:
        out.chmod(0o755)
    assert_clean_failure(ran, 3, str(out), "cannot write", "Permission denied")
    assert len(error_lines(ran)) == 1
    assert list(out.iterdir()) == []


def _file_size_limit(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_file_size_limit_stops_cleanly_and_a_rerun_completes(
    layout: Path, tiny_ckpt: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    ran = geopose(
        "predict", "--checkpoint", tiny_ckpt, "--data", layout, "--out", out,
        "--tta", "none", "--no-progress", preexec_fn=lambda: _file_size_limit(128),
    )  # fmt: skip
    assert_clean_failure(ran, 3, "_AGL.tif: cannot write", os.strerror(errno.EFBIG))
    (line,) = error_lines(ran)
    assert str(out) in line
    assert leftovers(out) == []
    assert written_ids(out) == set()
    assert not list(out.glob("*_AGL.tif"))

    again = geopose(
        "predict", "--checkpoint", tiny_ckpt, "--data", layout, "--out", out,
        "--tta", "none", "--no-progress",
    )  # fmt: skip
    assert again.code == 0, again.text
    assert written_ids(out) == set(ids_of(layout, "test"))


@contextlib.contextmanager
def _full_tmpfs(where: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs at ``where``, filled to the last byte; unmounted afterwards."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        filler = where / "filler"
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while f.write(b"\0" * 4096):
                pass
        yield filler
    finally:
        subprocess.run(["umount", str(where)], check=False)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root")
def test_full_disk_stops_cleanly_and_a_rerun_completes(
    layout: Path, tiny_ckpt: Path, tmp_path: Path
) -> None:
    with _full_tmpfs(tmp_path / "disk") as filler:
        out = filler.parent / "out"
        ran = geopose(
            "predict", "--checkpoint", tiny_ckpt, "--data", layout, "--out", out,
            "--tta", "none", "--no-progress",
        )  # fmt: skip
        assert_clean_failure(ran, 3, "cannot write")
        (line,) = error_lines(ran)
        assert str(out) in line
        # Python's and GDAL's words for it (GDAL checks the free space before writing).
        assert os.strerror(errno.ENOSPC) in line or "disk space" in line, line
        assert leftovers(out) == []
        assert written_ids(out) == set()
        filler.unlink()  # space again: the rerun finishes the job
        again = geopose(
            "predict", "--checkpoint", tiny_ckpt, "--data", layout, "--out", out,
            "--tta", "none", "--no-progress",
        )  # fmt: skip
        assert again.code == 0, again.text
        assert written_ids(out) == set(ids_of(layout, "test"))
