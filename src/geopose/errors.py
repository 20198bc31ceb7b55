"""Exceptions with the exit codes of DESIGN.md §6.

Every message names the file (when there is one) and the problem in one line, so the
command line can print it without a traceback.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_PROBLEMS = 1  # finished, but found problems (bad files, missing predictions)
EXIT_USAGE = 2  # usage error
EXIT_ABORTED = 3  # the job could not finish


class GeoposeError(Exception):
    """Base class of geopose's own errors; ``exit_code`` is what the CLI returns."""

    exit_code = EXIT_ABORTED


class UsageError(GeoposeError):
    """The command was called wrongly (bad option value, missing argument)."""

    exit_code = EXIT_USAGE


class DataError(GeoposeError):
    """A data file is missing, unreadable or inconsistent. The message names the file."""

    exit_code = EXIT_PROBLEMS

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class JobAborted(GeoposeError):
    """A long job had to stop (e.g. repeated non-finite losses)."""

    exit_code = EXIT_ABORTED


class OutputError(GeoposeError):
    """An output file could not be written (read-only folder, full disk, file too
    large). The job cannot go on; the message names the file that was being written."""

    exit_code = EXIT_ABORTED

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: cannot write: {problem}")
