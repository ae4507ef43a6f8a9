"""Every process the harness starts: what a child is asked to do, its command line, exit codes, stderr and stop.

A run's parent starts one process per study (`StudyJob`), a study that serves its trials starts worker processes
(`WorkerJob`), and table builds and replays fill pools of spawned processes (`spawned`). Keeping them here means one
command-line format, built and parsed by the same class; one meaning per exit code; one way to forward a child's
stderr (TensorFlow's start-up noise dropped, the child's one-line error kept for the parent's own message); one
terminate-wait-kill sequence; and one polling loop's bookkeeping (`Supervisor`), shared by a run's study processes
and a chief's local workers. Children run `python -m fmnist_bench.orchestration.child`, which maps exceptions to
these exit codes.

This module imports nothing from the package but `errors`, so every layer may use it.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

from .errors import EXIT_USAGE, ResultsError

__all__ = ["ERROR_PREFIX", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_RECYCLE", "EXIT_RESULTS", "EXIT_STUDY_FAILED",
           "EXIT_USAGE", "JOB_KINDS", "NATIVE_THREAD_VARIABLES", "Child", "Serving", "StudyJob", "WorkerJob",
           "command", "core_share", "finishing_writes", "interrupt_on_sigterm", "limit_native_threads", "log_to_stderr",
           "native_thread_env", "spawned", "stop", "Supervisor", "watch_parent"]

EXIT_FAILED = 1  # a run with a failed study; a worker that lost its chief
EXIT_STUDY_FAILED = 3  # every trial failed, or the final fit diverged: the other studies go on
EXIT_RECYCLE = 4  # the study stopped after --trials-per-process trials: resume it in a fresh process
EXIT_RESULTS = 5  # the results folder cannot be written (disk full, permissions): the whole run stops
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM
CHILD_MODULE = "fmnist_bench.orchestration.child"  # every child's entry point (checked by tests/test_architecture.py)
ERROR_PREFIX = "fmnist-bench: error: "  # a child's one-line error; the parent reports it instead of printing it
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 10.0

# TensorFlow's C++ start-up chatter, printed before TF_CPP_MIN_LOG_LEVEL can apply, and its retracing warning (a
# study builds a new model per trial by design): dropped from children's stderr. (JAX's chatter is silenced at its
# logger, in runtime.)
_TF_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IW]\d{4} \S+ +\d+ \S+\] |"
                       r"E\d{4} .*NodeDef mentions attribute|To enable the following instructions: |"
                       r"\d+ out of the last \d+ calls to .* triggered tf\.function retracing)")


# The variables that size the thread pools of OpenBLAS (numpy's and scipy's own copies), MKL, BLIS and OpenMP
# (scikit-learn's libgomp), read once when each library loads.
NATIVE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def core_share(processes: int) -> int:
    """Threads per process when `processes` of them share this machine's cores (at least one)."""
    return max(1, (os.cpu_count() or 1) // processes)


def native_thread_env(threads: int) -> dict[str, str]:
    """The BLAS/OpenMP thread limits of a child process whose share of the cores is `threads`.

    Without them every process sizes its pools to all cores: with `--jobs 2` on 2 cores, two replay processes ran
    2 OpenBLAS threads each and the keras-tuner Bayesian oracle's numpy/scikit-learn work took twice as long
    (docs/tabular.md, "Replay speed"). A variable the user set stays as set (as joblib does), so a user can still
    choose.
    """
    return {name: os.environ.get(name, str(threads)) for name in NATIVE_THREAD_VARIABLES}


def limit_native_threads(threads: int) -> None:
    """Bound this process's BLAS/OpenMP pools: the environment for libraries not loaded yet, threadpoolctl for
    those already loaded (a spawned process imports numpy before its initializer runs)."""
    from threadpoolctl import threadpool_limits

    limits = native_thread_env(threads)
    os.environ.update(limits)
    threadpool_limits(limits={"blas": int(limits["OPENBLAS_NUM_THREADS"]),
                              "openmp": int(limits["OMP_NUM_THREADS"])})


@dataclasses.dataclass(frozen=True)
class Serving:
    """How a study's chief serves its oracle: where it listens and which workers it starts itself."""

    bind: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    local_workers: int = 0
    worker_timeout: float = 900.0
    announce: Path | None = None  # where to publish {study, port} for workers started by hand


def _encode(job: Any) -> str:
    return json.dumps(dataclasses.asdict(job), default=str)


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


@dataclasses.dataclass(frozen=True)
class StudyJob:
    """One (strategy, seed) study of the run in `run_dir`, whose `config.json` says what to compute."""

    KIND = "study"
    run_dir: Path
    strategy: str
    seed: int
    device: str = "auto"
    threads: int = 1
    data_dir: Path | None = None
    trials_per_process: int | None = None
    serving: Serving | None = None  # set: the study is a chief whose trials run in worker processes
    parent_pid: int | None = None  # set: exit as soon as this process is gone (no second writer after a new run)
    log_level: int = logging.INFO

    @classmethod
    def decode(cls, text: str) -> StudyJob:
        fields = json.loads(text)
        serving = fields.pop("serving")
        return cls(**fields | {"run_dir": Path(fields["run_dir"]), "data_dir": _path(fields["data_dir"]),
                               "serving": None if serving is None else
                               Serving(**serving | {"announce": _path(serving["announce"])})})


@dataclasses.dataclass(frozen=True)
class WorkerJob:
    """A keras-tuner worker of one study, pulling trials from the chief at `oracle` (host:port)."""

    KIND = "worker"
    run_dir: Path
    strategy: str
    seed: int
    tuner_id: str
    oracle: str
    device: str = "auto"
    threads: int = 1
    data_dir: Path | None = None
    chief_timeout: float = 600.0
    parent_pid: int | None = None  # set: exit as soon as this process is gone (a local worker of a chief)
    log_level: int = logging.INFO

    @classmethod
    def decode(cls, text: str) -> WorkerJob:
        fields = json.loads(text)
        return cls(**fields | {"run_dir": Path(fields["run_dir"]), "data_dir": _path(fields["data_dir"])})


JOB_KINDS: dict[str, type[StudyJob] | type[WorkerJob]] = {StudyJob.KIND: StudyJob, WorkerJob.KIND: WorkerJob}


def command(job: StudyJob | WorkerJob) -> list[str]:
    """`python -m fmnist_bench.orchestration.child <kind> <job as JSON>`: the job travels whole, parsed back by its
    own class."""
    return [sys.executable, "-m", CHILD_MODULE, job.KIND, _encode(job)]


class Child:
    """A started child process whose stderr is passed through line by line, minus TensorFlow's start-up noise.

    A line starting with ERROR_PREFIX is the child's own one-line error: it is kept in `error` for the parent's
    message instead of printed, so that a failure reads as one line. stdout is discarded: keras-tuner print()s
    ("Reloading Tuner from ..."); the harness's progress and errors go to stderr through logging.
    """

    def __init__(self, job: StudyJob | WorkerJob) -> None:
        self.job = job
        self.error: str | None = None
        self.process = subprocess.Popen(command(job), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env=os.environ | native_thread_env(job.threads))
        self._pump = threading.Thread(target=self._forward, daemon=True)
        self._pump.start()

    def _forward(self) -> None:
        for line in self.process.stderr or ():
            if line.startswith(ERROR_PREFIX):
                self.error = line[len(ERROR_PREFIX):].strip()
            elif not _TF_NOISE.match(line):
                sys.stderr.write(line)
                sys.stderr.flush()

    def poll(self) -> int | None:
        """The exit code once the child has ended and its stderr is read to the end, else None."""
        code = self.process.poll()
        if code is not None:
            self._pump.join(timeout=5)
        return code

    def wait(self) -> int:
        self.process.wait()
        return self.poll()  # type: ignore[return-value]

    def kill(self) -> None:
        self.process.kill()

    def describe_exit(self) -> str:
        """What ended the child, for one line of the parent's report."""
        return self.error or f"exited with code {self.process.returncode}"


def stop(children: Iterable[Child]) -> None:
    """Terminate the children that still run, give them STOP_GRACE_SECONDS to finish writing, then kill them."""
    children = list(children)
    for child in children:
        if child.process.poll() is None:
            child.process.terminate()
    for child in children:
        try:
            child.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


Key = TypeVar("Key")


class Supervisor(Generic[Key]):
    """The children of one polling loop, keyed by what each runs: a run's study processes, a chief's local workers.

    Both loops need the same three things: to notice a child that ended without blocking on the others; to stop
    every other child at once when one could not write results (they share the folder, so they could not either);
    and to leave no child behind however the loop ends. As a context manager, leaving it stops what still runs.
    """

    def __init__(self) -> None:
        self.running: dict[Key, Child] = {}

    def __enter__(self) -> Supervisor[Key]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    def __len__(self) -> int:
        return len(self.running)

    def start(self, key: Key, child: Child) -> None:
        self.running[key] = child

    def stop_all(self) -> None:
        stop(self.running.values())
        self.running.clear()

    def ended(self, name: Callable[[Key], str], poll_seconds: float = POLL_SECONDS) -> list[tuple[Key, Child, int]]:
        """Wait one poll interval, then take out every child that has ended, with its exit code.

        Raises:
            ResultsError: a child exited with EXIT_RESULTS ("`name(key)`: its error"); the others are stopped.
        """
        time.sleep(poll_seconds)
        ended: list[tuple[Key, Child, int]] = []
        for key, child in list(self.running.items()):
            code = child.poll()
            if code is None:
                continue
            del self.running[key]
            if code == EXIT_RESULTS:
                self.stop_all()
                raise ResultsError(f"{name(key)}: {child.describe_exit()}")
            ended.append((key, child, code))
        return ended


def watch_parent(parent_pid: int, exit_code: int) -> None:
    """Exit this process as soon as its parent is gone, so a killed chief never leaves orphan workers."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(POLL_SECONDS)
        os._exit(exit_code)
    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


_writes_in_progress = 0
_deferred: list[int] = []  # a stop signal that arrived during a write, raised once the write is done
_stop_handled = False  # a stop signal reached `_raise_interrupt`: a swallowed KeyboardInterrupt is then ours


def _resend_swallowed_stop(unraisable: Any) -> None:
    """A stop's KeyboardInterrupt raised where Python cannot propagate it (inside a garbage-collection callback such
    as JAX's, or a `__del__`) would be printed as "Exception ignored ... KeyboardInterrupt" and the process would run
    on until killed: send the signal again, so that it lands in ordinary code."""
    if unraisable.exc_type is KeyboardInterrupt and _stop_handled and hasattr(signal, "setitimer"):
        # a moment later, once this hook and the callback have returned (a signal sent now would be handled at once,
        # inside the hook, and swallowed again; one that lands in a callback again comes back here)
        signal.signal(signal.SIGALRM, _raise_interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        return
    sys.__unraisablehook__(unraisable)


def _raise_interrupt(signum: int, frame: Any) -> None:
    global _stop_handled
    _stop_handled = True
    if _writes_in_progress:
        _deferred.append(signum)
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def finishing_writes() -> Iterator[None]:
    """Ctrl-C or SIGTERM arriving inside this block (a results file being written and renamed into place) takes
    effect when the block ends: the write in progress finishes instead of being abandoned."""
    global _writes_in_progress
    _writes_in_progress += 1
    try:
        yield
    finally:
        _writes_in_progress -= 1
        if not _writes_in_progress and _deferred:
            _deferred.clear()
            raise KeyboardInterrupt


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM (a scheduler's stop) raises KeyboardInterrupt, as Ctrl-C does, so children are stopped the same way;
    either waits for a write in progress (`finishing_writes`) to finish. Only the main thread installs handlers, and
    an ignored SIGINT stays ignored (a background job's, which a terminal's Ctrl-C must not stop)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) != signal.SIG_IGN else [])
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in stops}
    previous_hook, sys.unraisablehook = sys.unraisablehook, _resend_swallowed_stop
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of each record (pytest swaps it between tests)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_to_stderr(level: int) -> None:
    """Progress and warnings as bare lines on stderr, in the parent and in every child alike."""
    logging.basicConfig(level=level, format="%(message)s", handlers=[_StderrHandler()], force=True)


Item = TypeVar("Item")


def _start_pool_worker(parent_pid: int, log: Path, threads: int, initializer: Callable[..., None],
                       initargs: tuple[Any, ...]) -> None:
    # A pool process only notices a dead parent when it asks for its next task: a parent killed outright (SIGKILL,
    # the OOM killer) would leave it training or replaying to the end of its current one, unseen. The parent's pid
    # comes from the parent: one killed while this process was still starting has already handed it to init.
    watch_parent(parent_pid, EXIT_FAILED)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as sink:
        os.dup2(sink.fileno(), 2)
    limit_native_threads(threads)
    initializer(*initargs)


def spawned(function: Callable[[Item], Any], items: Iterable[Item], *, jobs: int, threads: int,
            initializer: Callable[..., None], initargs: tuple[Any, ...], log: Path
            ) -> Iterator[tuple[Item, futures.Future[Any]]]:
    """(item, its finished future) as `jobs` spawned processes finish `function(item)`; each process bounds its
    BLAS/OpenMP pools to `threads` and runs `initializer(*initargs)` once, with its stderr appended to `log`.
    Leaving the loop early cancels the rest.

    Spawned, not forked: TensorFlow and JAX do not survive fork. A pool worker's backend noise goes to the log file
    instead of the user's terminal; its errors still reach the parent, as the exception of its future.
    """
    with futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_start_pool_worker,
                                     initargs=(os.getpid(), log, threads, initializer, initargs)) as pool:
        pending = {pool.submit(function, item): item for item in items}
        try:
            for future in futures.as_completed(pending):
                yield pending.pop(future), future
        finally:
            for future in pending:
                future.cancel()
