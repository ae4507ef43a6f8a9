"""Error taxonomy: what the CLI turns into one line on stderr, and what a trial turns into a FAILED record."""

from __future__ import annotations

import functools
import sys
from typing import Callable

__all__ = ["FmnistBenchError", "ClusterError", "ConfigError", "DataError", "ProcessRecycle", "ResultsError",
           "StudyFailed", "TableError", "EXIT_USAGE", "one_line_errors", "report_error"]

EXIT_USAGE = 2  # a user error (bad input, missing data): one line on stderr (processes has the other codes)


class FmnistBenchError(Exception):
    """Root of every error a user can fix; the CLI prints its message and exits non-zero."""


class ConfigError(FmnistBenchError):
    """Bad user input: unknown names, impossible budgets, malformed config files."""


class DataError(FmnistBenchError):
    """The Fashion-MNIST files are missing, truncated or do not match their checksums."""


class ResultsError(FmnistBenchError):
    """The results folder cannot be written, is locked by another run, or holds unreadable records."""


class StudyFailed(FmnistBenchError):
    """A study ended without a usable model (every trial failed, or its process died)."""


class TableError(FmnistBenchError):
    """A tabular benchmark is missing, was built under another spec, or lacks a configuration a replay asks for."""


class ClusterError(FmnistBenchError):
    """A Dask scheduler that cannot be reached, or a worker that cannot run the farm's tasks (other software, no
    data); the message names the worker."""


class ProcessRecycle(Exception):
    """Not an error: a study stops after `trials_per_process` trials, and the runner resumes it in a new process.

    TensorFlow/Keras keep ~5-10 MB per built-and-fitted model that `clear_session()` does not return (the same
    growth shows in a plain keras-tuner search); a fresh process every few trials keeps memory flat, and because
    resume is exact the records are the same.
    """


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """For the analysis tools run as `python -m fmnist_bench.<module>` (outside the CLI's own handler): a user's
    error (a run folder that is not one, runs that cannot be compared) is one line on stderr and exit 2, as in the
    CLI, not a traceback."""
    @functools.wraps(main)
    def guarded(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except FmnistBenchError as exc:
            return report_error(exc)
    return guarded


def report_error(exc: FmnistBenchError) -> int:
    """A user's error as the CLI and the analysis tools show it: one line on stderr; the exit status to return."""
    print(f"fmnist-bench: error: {exc}", file=sys.stderr)
    return EXIT_USAGE
