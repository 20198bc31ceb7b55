"""Atomic file writes: write a temporary file beside the target, then rename.

A reader never sees a half-written output, and an interrupted job leaves either the
old file or the new one, never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from geopose.errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    The temporary name keeps the target's suffix, so libraries that pick a format from
    the extension (GDAL, Pillow) still do. On an exception the temporary file is removed
    and the target is left untouched. An :class:`OSError` (read-only folder, full disk,
    file-size limit) becomes :class:`geopose.errors.OutputError` naming ``path``.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
    except OSError as err:
        raise OutputError(target, os_problem(err)) from None
    tmp = Path(tmp_name)
    try:
        # Inside the try, so that the temporary file is removed even if closing fails.
        os.close(fd)
        # mkstemp creates 0600 files; give outputs the permissions of an ordinary file.
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        os.replace(tmp, target)
    except OSError as err:
        raise OutputError(target, os_problem(err)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def os_problem(err: OSError) -> str:
    """An OSError in words without its file name (the caller names the file)."""
    if err.errno is not None and err.strerror:
        return f"{err.strerror} (errno {err.errno})"
    return " ".join(str(err).split()) or type(err).__name__


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
