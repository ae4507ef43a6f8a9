"""Entry point of a child process: `python -m fmnist_bench.orchestration.child <kind> <job as JSON>` (built by
`processes`).

It runs the job and turns its outcome into the exit codes of `processes`, with any error as one line starting with
`processes.ERROR_PREFIX`, which the parent reports. Like `cli`, it is an entry point: it may print and exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator, NoReturn

from ..errors import FmnistBenchError, ProcessRecycle, ResultsError, StudyFailed
from ..processes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_RECYCLE, EXIT_RESULTS, EXIT_STUDY_FAILED, EXIT_USAGE, \
    ERROR_PREFIX, JOB_KINDS, StudyJob, WorkerJob, interrupt_on_sigterm, log_to_stderr, watch_parent

__all__ = ["main"]


def _study(job: StudyJob) -> int:
    from ..orchestration.distributed import ChiefSearch
    from ..store import RunPaths, read_config
    from ..engine.study import run_study

    if job.parent_pid is not None:
        watch_parent(job.parent_pid, EXIT_INTERRUPTED)
    paths = RunPaths(job.run_dir)
    try:
        with _exit_on_results_errors():
            run_study(read_config(paths), job.strategy, job.seed, paths, data_dir=job.data_dir, device=job.device,
                      threads=job.threads, trials_per_process=job.trials_per_process,
                      parallel=None if job.serving is None else ChiefSearch(job))
    except ProcessRecycle:
        return EXIT_RECYCLE
    except StudyFailed as exc:
        return _error(f"study failed: {exc}", EXIT_STUDY_FAILED)
    return 0


def _worker(job: WorkerJob) -> int:
    import grpc

    from ..store import RunPaths, read_config
    from ..engine.study import run_worker

    if job.parent_pid is not None:
        watch_parent(job.parent_pid, EXIT_FAILED)
    paths = RunPaths(job.run_dir)
    try:
        with _exit_on_results_errors():  # the chief then stops the study, and the runner the run
            run_worker(read_config(paths), job.strategy, job.seed, paths, oracle=job.oracle, tuner_id=job.tuner_id,
                       data_dir=job.data_dir, device=job.device, threads=job.threads,
                       chief_timeout=job.chief_timeout)
    except grpc.RpcError as exc:
        return _error(f"worker {job.tuner_id} lost the chief at {job.oracle}: {exc.code().name}", EXIT_FAILED)
    return 0


def _error(message: str, code: int) -> int:
    print(ERROR_PREFIX + message, file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    kind, payload = argv if argv is not None else sys.argv[1:]
    job = JOB_KINDS[kind].decode(payload)
    log_to_stderr(job.log_level)
    try:
        with interrupt_on_sigterm():  # SIGTERM: finish the write in progress, then exit EXIT_INTERRUPTED
            return _study(job) if isinstance(job, StudyJob) else _worker(job)
    except FmnistBenchError as exc:
        return _error(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def _exit_on_results_errors() -> Iterator[None]:
    """An unusable results folder (ResultsError, or an OSError from keras-tuner's or Keras's own writes: oracle,
    trials, checkpoints; Keras 2's TensorFlow checkpoint errors too) ends the process with EXIT_RESULTS and one
    line."""
    from ..store import write_failure

    try:
        yield
    except ResultsError as exc:
        _exit_now(str(exc))
    except Exception as exc:
        if (failed_write := write_failure(exc)) is None:
            raise
        _exit_now(str(failed_write))


def _exit_now(message: str) -> NoReturn:
    """Exit at once, while the exception still holds the frames of the failed write: releasing them, or the
    interpreter's teardown, makes h5py close a cut-off checkpoint again, print its traceback and sometimes crash the
    process (SIGSEGV), which would bury the one-line error and its exit code."""
    _error(message, EXIT_RESULTS)
    os._exit(EXIT_RESULTS)


if __name__ == "__main__":
    sys.exit(main())
