"""A run folder's life: opened and locked against a second writer, its config and environment recorded or checked,
each finished study written into it, its status listed, its working state freed once it is complete.

This is the module that changes a run folder, so the lock that makes one process its only writer (`run_lock`) sits
beside every write that needs it; reading a run back is `stored`'s job. A study's `study.json` is written after its
CSVs and records: if it exists, the study is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from ..config import RunConfig
from ..errors import ResultsError
from ..records import EPOCH_COLUMNS, TRIAL_COLUMNS, EpochRecord, StudyResult, TrialRecord
from .files import atomic_write_json, ensure_writable_dir, read_json, read_lines, unwritable, write_csv
from .layout import RunPaths, StudyPaths
from .stored import StoredStudy, read_config, space_revision_of

__all__ = ["RunOutcome", "RunStatus", "chief_token", "drop_search_state", "list_run_dirs", "open_run",
           "prepare_run", "reclaim_work", "record_finish", "require_run_dirs", "run_lock", "run_status",
           "write_study"]


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    paths: RunPaths
    results: list[StudyResult]
    failed: list[str]  # one line per study that ended without a result


@contextlib.contextmanager
def open_run(results_dir: Path, run_id: str, cfg: RunConfig, env: dict[str, Any]) -> Iterator[RunPaths]:
    """The run folder of a live or replayed run, ready for its work: both folders writable, the folder locked
    against a second writer for the duration, its config and environment recorded or checked (`prepare_run`).

    Raises:
        ResultsError: a folder is not writable, another process holds the run, or it holds another config.
    """
    ensure_writable_dir(results_dir)
    paths = RunPaths.in_results(results_dir, run_id)
    ensure_writable_dir(paths.root)
    with run_lock(paths):
        prepare_run(paths, cfg, env)
        yield paths


def record_finish(paths: RunPaths, fields: dict[str, Any]) -> None:
    """Add what the end of a run knows (its finish time, devices, replay settings) to its env.json."""
    env = {k: v for k, v in read_json(paths.env, "env").items() if k not in ("schema", "kind")}
    atomic_write_json(paths.env, "env", env | fields)


def prepare_run(paths: RunPaths, cfg: RunConfig, env: dict[str, Any]) -> None:
    """Write a new run's config and environment (`env`, the caller's `environment.collect_env()`), or check that an
    existing run folder holds this very config, trained with the same Keras backend."""

    if paths.config.is_file():
        document = read_json(paths.config, "config")
        stored, current = document["config"], cfg.to_dict()
        if stored != current:
            changed = sorted(k for k in stored.keys() | current.keys() if stored.get(k) != current.get(k))
            raise ResultsError(f"{paths.root} holds a run with a different config ({', '.join(changed)} differ); "
                               "pass another --run-id or leave --run-id out")
        # The same config over a changed space: keras-tuner's stored oracle would go on sampling the old ranges
        # while the records claimed the new ones.
        revision = space_revision_of(document)
        if revision != cfg.space_revision:
            raise ResultsError(f"{paths.root} holds a run of the {cfg.space} space's revision {revision} and this "
                               f"version searches revision {cfg.space_revision}; pass another --run-id or leave "
                               "--run-id out")
    else:
        atomic_write_json(paths.config, "config", {"config": cfg.to_dict(), "run_id": paths.root.name,
                                                   "space_revision": cfg.space_revision})
    if not paths.env.is_file():
        atomic_write_json(paths.env, "env", env)
        return
    stored_backend = read_json(paths.env, "env").get("keras_backend", "tensorflow")
    current_backend = env.get("keras_backend", "tensorflow")
    if stored_backend != current_backend:  # one run's studies must be comparable: never mix numerics of two backends
        raise ResultsError(f"{paths.root} holds a run trained with the {stored_backend} backend and this process "
                           f"runs {current_backend}; pass another --run-id")


def _lock_exclusive(handle: io.TextIOBase) -> None:
    """A non-blocking exclusive lock that the OS drops with the process: flock on POSIX, msvcrt on Windows.

    Raises:
        OSError: with errno EAGAIN, EACCES or EDEADLK when another process holds it.
    """
    if os.name == "nt":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
    else:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


@contextlib.contextmanager
def run_lock(paths: RunPaths) -> Iterator[None]:
    """Hold an exclusive lock on the run folder; the kernel drops it if the process dies, so no stale locks."""
    handle = paths.lock.open("a+")
    try:
        try:
            _lock_exclusive(handle)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EDEADLK):
                handle.seek(0)
                owner = handle.read().strip() or "unknown"
                raise ResultsError(f"another fmnist-bench process (pid {owner}) is writing to {paths.root}; "
                                   "wait for it to finish or pass another --run-id") from None
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def list_run_dirs(results_dir: Path) -> list[Path]:
    runs = results_dir / "runs"
    return sorted(p for p in runs.iterdir() if (p / "config.json").is_file()) if runs.is_dir() else []


def require_run_dirs(results_dir: Path) -> list[Path]:
    """The stored runs, for commands that read them (report, leaderboard).

    Raises:
        ResultsError: there is no results folder, or no run in it (two cases, so the user knows which path is wrong).
    """
    if not results_dir.is_dir():
        raise ResultsError(f"no results folder {results_dir}; start a run with `python -m fmnist_bench run`")
    run_dirs = list_run_dirs(results_dir)
    if not run_dirs:
        raise ResultsError(f"no runs under {results_dir / 'runs'}; start one with `python -m fmnist_bench run`")
    return run_dirs


def _size(path: Path) -> int:
    """Bytes under `path` (0 when absent)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


@dataclasses.dataclass(frozen=True)
class RunStatus:
    """What `runs` lists: how far a run got and what it occupies (its results; its .work, keras-tuner's state)."""

    run_id: str
    config: RunConfig
    complete: int
    studies: int
    finished_at: str | None
    results_bytes: int
    work_bytes: int

    @property
    def done(self) -> bool:
        return self.complete == self.studies


def run_status(run_dir: Path) -> RunStatus:
    """Raises ResultsError: not a readable run folder."""
    paths = RunPaths(run_dir)
    cfg = read_config(paths)
    if cfg.replay:
        archive, partial = paths.studies_archive, paths.studies_partial
        complete = len(read_lines(archive)) if archive.is_file() else \
            len(read_lines(partial)) if partial.is_file() else 0
    else:
        complete = sum(paths.study(*cell).result.is_file() for cell in cfg.cells)
    env = read_json(paths.env, "env") if paths.env.is_file() else {}
    work = _size(paths.work)
    return RunStatus(run_dir.name, cfg, complete, len(cfg.cells), env.get("finished_at"),
                     _size(run_dir) - work - _size(paths.lock), work)


def reclaim_work(run_dir: Path) -> int:
    """Delete the .work folder of a run whose studies are all complete; return the bytes freed. A study drops its own
    search state as it completes (`drop_search_state`); this frees what runs made before that kept, and the error
    logs and damaged projects set aside. Finished results never live there, and an unfinished run keeps it: it
    resumes from it.

    Raises:
        ResultsError: the run is not complete, or another process is writing to it.
    """
    status = run_status(run_dir)
    if not status.done:
        raise ResultsError(f"{run_dir.name} has {status.complete} of {status.studies} studies complete; its .work "
                           "folder is what resumes it, so it is kept (finish the run first)")
    paths = RunPaths(run_dir)
    with run_lock(paths):
        shutil.rmtree(paths.work, ignore_errors=True)
    return status.work_bytes


def write_study(paths: RunPaths, result: StudyResult, trials: list[TrialRecord], epochs: list[EpochRecord]) -> None:
    """A finished study's files; study.json last, so that a kill before it leaves the study incomplete, not wrong.
    Then its search state goes (`drop_search_state`): a complete study resumes from study.json alone."""
    files = paths.study(result.strategy, result.seed)
    hp_columns = sorted({f"hp_{k}" for t in trials for k in t.params})
    write_csv(files.trials_csv, [t.to_row() for t in trials], TRIAL_COLUMNS + hp_columns)
    write_csv(files.epochs_csv, [e.to_dict() for e in epochs], EPOCH_COLUMNS)
    document = StoredStudy(result, trials, epochs).to_dict()
    atomic_write_json(files.records, "records", {"trials": document["trials"], "epochs": document["epochs"]})
    atomic_write_json(files.result, "study", document["result"])
    drop_search_state(files)


def drop_search_state(files: StudyPaths) -> None:
    """Delete what only an unfinished search reads: keras-tuner's project (its checkpoints are 35 MB per smoke
    study; the harness refits the chosen configuration itself), the per-trial records (now in records.json) and the
    search clock. What is kept for the user stays: a trial's error log, and anything set aside as damaged."""
    shutil.rmtree(files.tuner_project, ignore_errors=True)
    shutil.rmtree(files.trial_records, ignore_errors=True)
    files.search_clock.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # only when nothing else is left in it
        files.work.rmdir()


def chief_token(paths: RunPaths, *, create: bool) -> str:
    """The run's chief token: made once (random, 256 bits; the file readable only by its owner) by the chief when
    `create`, read by the workers, who find it where they find the chief's announcement.

    Raises:
        ResultsError: the token cannot be written, or a worker finds none (no chief has served this run).
    """
    import secrets

    path = paths.chief_token
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    if not create:
        raise ResultsError(f"{path} does not exist: no chief has served this run folder (start `chief` first, with "
                           "the same --results-dir, on a file system this machine shares)")
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(token)
        os.replace(path.with_suffix(".tmp"), path)
    except OSError as exc:
        raise unwritable(exc, path) from None
    return token
