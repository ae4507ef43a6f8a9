"""Table builds and replays on a Dask cluster: the same farm of independent tasks as `processes.spawned`, handed to
Dask's scheduler instead of a local process pool.

Why Dask's `distributed` and not a scheduler of our own: a table seed and a replayed run are farms of independent,
deterministic tasks, which is what it does well. It retries a task whose worker died on another worker, balances
tasks of very different lengths (a 512-neuron configuration costs 30x a 32-neuron one), and starts on anything from
loopback to Slurm or Kubernetes (dask-jobqueue, dask-kubernetes) with its own commands. Ray would serve as well; it
is a far larger install for what these farms use.

What stays as local: the process the user started writes every file (a task returns its result as a JSON-ready
dict); the same progress lines and resume. What a worker must bring: fmnist-bench with the same Keras backend and
the same versions of the libraries that decide the numbers (checked on its first task), and its own copy of the data
(`FMNIST_DATA_DIR` or the Debian package, checksummed when it loads). One task at a time per worker process
(`dask worker --nthreads 1`): Keras's seeding is process-wide, so two tasks in one process would mix their streams.

`distributed` is an optional extra (`pip install 'fmnist-bench[dask]'`) and is imported only when a scheduler is
given.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import contextlib
import logging
import multiprocessing
import os
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from .errors import ClusterError, ConfigError
from .processes import EXIT_FAILED, limit_native_threads, spawned, watch_parent

__all__ = ["SCHEDULER_TIMEOUT_SECONDS", "WORKER_WAIT_SECONDS", "connected", "farm"]

SCHEDULER_TIMEOUT_SECONDS = 10
_log = logging.getLogger(__name__)  # `farm` has a parameter named `log` (its workers' stderr file)
MAX_SETUP_RESENDS = 3  # a farm's set-up lost with dying workers: sent again this many times before giving up
WORKER_WAIT_SECONDS = 120  # a scheduler with no worker yet: how long to wait for the first one before giving up
Item = TypeVar("Item")

# ---- on a Dask worker --------------------------------------------------------------------------------------------
#
# A task does not run in the Dask worker process itself but in one spawned child of it, set up as a local pool
# process is (`processes.spawned`): the worker's own threads draw from Python's global `random` (timing jitter), and
# Keras draws every layer's initializer seed from it after `set_random_seed`, so a configuration trained in the
# worker process got another curve whenever Dask drew in between (seen on a loopback cluster under load).

_SET_UP: dict[str, Any] = {"farm": None, "pool": None, "child_ready": False, "tasks": 0}
_ONE_TASK_AT_A_TIME = threading.Lock()


class _SetupFailed(Exception):
    """The farm's initializer failed in a worker's child (no data, say): reported naming the worker."""


def _run_task(farm_id: str, function: Callable[[Any], Any], item: Any, setup: tuple[Any, ...]) -> Any:
    """A task on a worker: on the farm's first task there, check the worker's software and start its child; then
    `function(item)` in the child.

    Raises:
        ClusterError: this worker's software differs from the client's, or its set-up failed (no data, a checksum
            mismatch, an unsupported backend); the message names the worker.
    """
    from distributed import get_worker

    from . import faults

    initializer, initargs, identity, expected, threads = setup
    where = str(get_worker().address)
    with _ONE_TASK_AT_A_TIME:
        if _SET_UP["farm"] != farm_id:
            _check_software(where, identity, expected)
            _new_child(farm_id)
        _SET_UP["tasks"] += 1
        faults.at_cluster_task(_SET_UP["tasks"])
        sent = None if _SET_UP["child_ready"] else (initializer, initargs, threads)
        try:
            result = _SET_UP["pool"].submit(_in_child, farm_id, sent, function, item).result()
        except _SetupFailed as exc:
            raise ClusterError(f"Dask worker {where} could not set up ({exc})") from None
        except concurrent.futures.process.BrokenProcessPool:
            _new_child(farm_id)  # the child died (out of memory, say): the next task starts another
            raise
        _SET_UP["child_ready"] = True
        return result


def _check_software(where: str, identity: Callable[[], dict[str, str | None]], expected: dict[str, str | None]
                    ) -> None:
    try:
        found = identity()
    except Exception as exc:  # an unsupported backend, say
        raise ClusterError(f"Dask worker {where}: {exc}") from None
    differing = [f"{name} {found.get(name)} (this machine: {value})" for name, value in expected.items()
                 if found.get(name) != value]
    if differing:
        raise ClusterError(f"Dask worker {where} has {', '.join(differing)}: install the same versions on every "
                           "worker")


def _new_child(farm_id: str) -> None:
    if _SET_UP["pool"] is not None:
        _SET_UP["pool"].shutdown(cancel_futures=True)
    # A worker started by a nanny (`dask worker`'s default) is a daemonic process, and multiprocessing refuses
    # children to those (Dask's own switch is distributed.worker.daemon: False); the task child exits with its
    # worker anyway (`watch_parent`), which is what the rule guards against.
    multiprocessing.current_process().daemon = False
    _SET_UP.update(farm=farm_id, child_ready=False, pool=concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=watch_parent,
        initargs=(os.getpid(), EXIT_FAILED)))


_CHILD: dict[str, Any] = {"farm": None}


def _in_child(farm_id: str, setup: tuple[Any, ...] | None, function: Callable[[Any], Any], item: Any) -> Any:
    """In the worker's child: set up on the farm's first task (`setup` is sent only then), then `function(item)`."""
    if _CHILD["farm"] != farm_id:
        if setup is None:
            raise RuntimeError("a worker's child got a task before its set-up")
        initializer, initargs, threads = setup
        limit_native_threads(threads)
        try:
            initializer(*initargs)
        except Exception as exc:
            raise _SetupFailed(f"{type(exc).__name__}: {exc}") from None
        _CHILD["farm"] = farm_id
    return function(item)


# ---- in the process the user started -----------------------------------------------------------------------------

@contextlib.contextmanager
def connected(address: str | None) -> Iterator[Any]:
    """A Dask client of the scheduler at `address` with at least one worker, closed on exit; None without an address.
    A `tls://` address is reached with Dask's own TLS settings, and only with them (encryption required).

    Raises:
        ConfigError: `distributed` is not installed.
        ClusterError: the scheduler cannot be reached, no worker joins it, or a worker runs more than one thread.
    """
    if address is None:
        yield None
        return
    try:
        import distributed
    except ImportError:
        raise ConfigError("--scheduler needs Dask's distributed: pip install 'fmnist-bench[dask]'") from None
    security = None
    if address.startswith("tls://"):  # Dask's own TLS settings: its config files, DASK_DISTRIBUTED__COMM__TLS__*
        security = distributed.Security(require_encryption=True)
        if not (getattr(security, "tls_ca_file", None) and getattr(security, "tls_client_cert", None)):
            raise ClusterError(f"{address} is a TLS scheduler, but Dask's settings name no certificate for this "
                               "client: set DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
                               "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT and "
                               "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY, or their keys in a Dask config file "
                               "(docs/scaling.md)")
    try:
        client = distributed.Client(address, timeout=f"{SCHEDULER_TIMEOUT_SECONDS}s", set_as_default=False,
                                    security=security)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}: {exc}); start one "
                           f"with `dask scheduler` and workers with `dask worker {address} --nthreads 1`") from None
    try:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        except TimeoutError:
            raise ClusterError(f"no Dask worker joined the scheduler at {address} within {WORKER_WAIT_SECONDS} s; "
                               f"start them with `dask worker {address} --nthreads 1`") from None
        threaded = [f"{address} ({threads} threads)" for address, threads in client.nthreads().items() if threads != 1]
        if threaded:
            raise ClusterError(f"Dask workers must run one task at a time (Keras seeds a whole process): restart "
                               f"{', '.join(threaded)} with `dask worker ... --nthreads 1`")
        yield client
    finally:
        client.close()


def farm(function: Callable[[Item], Any], items: Iterable[Item], *, jobs: int, threads: int,
         initializer: Callable[..., None], initargs: tuple[Any, ...], log: Path, client: Any = None,
         identity: Callable[[], dict[str, str | None]] = dict) -> Iterator[tuple[Item, Any]]:
    """(item, its finished future) as `function(item)` finishes: in `jobs` local spawned processes
    (`processes.spawned`, their stderr in `log`), or, given a Dask `client`, on its workers, each of which runs
    `initializer(*initargs)` once after checking that `identity()` there equals it here. Leaving the loop early
    cancels what has not finished."""
    if client is None:
        yield from spawned(function, items, jobs=jobs, threads=threads, initializer=initializer, initargs=initargs,
                           log=log)
        return
    from distributed import as_completed

    def scatter() -> Any:  # sent once to every worker, not with each task (a replay's table is megabytes)
        [future] = client.scatter([(initializer, initargs, identity, identity(), threads)], broadcast=True,
                                  hash=False)
        return future

    setup, resends = scatter(), 0
    farm_id = f"{os.getpid()}-{uuid.uuid4().hex}"
    pending = {client.submit(_run_task, farm_id, function, item, setup, pure=False): (item, resends)
               for item in items}
    try:
        finished = as_completed(list(pending), loop=client.loop)
        for future in finished:
            item, sent_with = pending.pop(future)
            # Dask cannot recompute scattered data: a worker that dies holding the only copy of the set-up (the
            # scheduler logs "lose scattered data") cancels every task waiting on it. Send it again and resubmit.
            if future.cancelled() and setup.status != "finished" and resends < MAX_SETUP_RESENDS:
                resends += 1
                _log.warning("a Dask worker died holding the only copy of the set-up; sending it again (%d of at "
                             "most %d)", resends, MAX_SETUP_RESENDS)
                setup = scatter()
            if future.cancelled() and sent_with < resends:
                again = client.submit(_run_task, farm_id, function, item, setup, pure=False)
                pending[again] = (item, resends)
                finished.add(again)
                continue
            yield item, future
    finally:  # a closed client has released its futures already (the scheduler forgets them)
        if pending and client.status == "running":
            client.cancel(list(pending))
