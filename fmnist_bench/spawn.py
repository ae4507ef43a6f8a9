"""Work spread over spawned worker processes: the table builder's trainings and the replay's studies.

One place for the pool's start method (spawn: TensorFlow and JAX do not survive fork), for sending each worker's
backend noise to a log file instead of the user's terminal (its errors still reach the parent, as the exception of
its future), and for cancelling what has not started when the parent stops early.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

__all__ = ["spawned"]

Item = TypeVar("Item")


def _start_worker(log: Path, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as sink:
        os.dup2(sink.fileno(), 2)
    initializer(*initargs)


def spawned(function: Callable[[Item], Any], items: Iterable[Item], *, jobs: int, initializer: Callable[..., None],
            initargs: tuple[Any, ...], log: Path) -> Iterator[tuple[Item, futures.Future[Any]]]:
    """(item, its finished future) as `jobs` spawned processes finish `function(item)`; each process runs
    `initializer(*initargs)` once, with its stderr appended to `log`. Leaving the loop early cancels the rest."""
    with futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_start_worker, initargs=(log, initializer, initargs)) as pool:
        pending = {pool.submit(function, item): item for item in items}
        try:
            for future in futures.as_completed(pending):
                yield pending.pop(future), future
        finally:
            for future in pending:
                future.cancel()
