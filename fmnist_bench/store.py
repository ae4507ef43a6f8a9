"""Results layout, schema-versioned JSON, atomic writes and the run lock.

Every file is written to a temporary name in its own folder and moved into place with `os.replace`, so a reader
sees the old file, the new file, or none, never half of one. A study's `study.json` is written after its CSVs:
if it exists, the study is complete.

    results/runs/<run-id>/config.json, env.json, summary.md, *.png
    results/runs/<run-id>/studies/<strategy>-seed<k>/study.json, trials.csv, epochs.csv, confusion.png
    results/runs/<run-id>/.work/        keras-tuner projects and per-trial records (git-ignored working state)
    results/runs/<run-id>/studies.jsonl.gz   a replayed run's studies, one per line (hundreds of small studies)
    results/runs/<run-id>/studies.partial.jsonl   ... while the replay is in progress (resumable)
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import io
import json
import os
import re
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Iterable, Iterator

from .config import LEGACY_REFIT_SEEDS, RunConfig
from .errors import ConfigError, ResultsError
from .processes import finishing_writes
from .records import EPOCH_COLUMNS, TRIAL_COLUMNS, EpochRecord, StudyResult, TrialRecord, study_name

__all__ = ["SCHEMA", "RunPaths", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "read_json",
           "run_lock", "write_csv", "list_run_dirs", "require_run_dirs", "append_document", "read_lines", "write_lines",
           "write_lines_gz",
           "load_study", "load_run", "ensure_writable_dir", "leaderboard_path", "summary_link", "write_study",
           "StoredRun", "StoredStudy", "StudyPaths", "TablePaths", "RunOutcome", "open_run", "prepare_run",
           "record_finish", "read_config",
           "benchmarks_json_path",
           "keep_traceback", "set_aside", "unwritable", "write_failure", "RunStatus", "run_status",
           "reclaim_work", "DEFAULT_RESULTS", "REFERENCE_RESULTS", "tables_dir_for", "answer_figure_path",
           "chief_token"]

SCHEMA = 1
# A user's runs go to a folder that git ignores, so they never rewrite the results this repository ships
# (REFERENCE_RESULTS: `results/` beside the package in a clone, absent from an installed wheel), and never pool with
# runs made on other machines unless asked to (`leaderboard --also results`).
DEFAULT_RESULTS = Path("results") / "local"
REFERENCE_RESULTS = Path(__file__).resolve().parents[1] / "results"


def tables_dir_for(label: str, tables_dir: Path | None) -> Path:
    """The tables folder a replay of the table `label` reads: the one given, else the user's own
    (`<DEFAULT_RESULTS>/tables`) when it holds that table, else the shipped reference's."""
    if tables_dir is not None:
        return tables_dir
    own = DEFAULT_RESULTS / "tables"
    if (own / label / "table.json").is_file() or not (REFERENCE_RESULTS / "tables" / label / "table.json").is_file():
        return own
    return REFERENCE_RESULTS / "tables"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def unwritable(exc: OSError, path: Path | None = None) -> ResultsError:
    """One line for a write that failed (full disk, lost permission, read-only mount): which file, and what to do.

    h5py (Keras checkpoints) raises an OSError without errno or filename, both written inside a multi-line message
    ("... filename = '...', ..., errno = 28, error message = '...'"): they are read from there.
    """
    text = str(exc)
    number = int(found[1]) if (found := re.search(r"errno = (\d+)", text)) else exc.errno
    name = found[1] if (found := re.search(r"\b(?:file)?name = '([^']+)'", text)) else exc.filename
    where = path or name or "the results folder"
    cause = os.strerror(number) if number else (text.strip().splitlines() or [type(exc).__name__])[0]
    return ResultsError(f"cannot write {where} ({cause}); free space or fix the folder's permissions, then run the "
                        "same command again: finished work is kept and resumes")


# A write refused by the system: full disk, quota, permission, read-only mount.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)
_FULL = (errno.ENOSPC, errno.EDQUOT)


def write_failure(exc: BaseException, *, full_disk_only: bool = False) -> ResultsError | None:
    """The one-line error of a write that failed, or None when `exc` is something else (a bug, a diverged model).

    An OSError (Python's own writes, h5py's Keras 3 checkpoints); or a backend's error whose message ends in the
    system's words for a refused write: Keras 2 saves checkpoints through TensorFlow's SaveV2 op, which raises
    `ResourceExhaustedError("... <file>; No space left on device [Op:SaveV2]")` (`PermissionDeniedError` for a lost
    permission), not an OSError. Matching the words, not the type, keeps out an out-of-memory error, which TensorFlow
    also raises as ResourceExhaustedError, and needs no import of the backend. With `full_disk_only`, only a full
    disk or quota counts (code that also reads, where a permission error may be about reading).
    """
    text = str(exc)
    if isinstance(exc, OSError):
        full = exc.errno in _FULL or any(os.strerror(number) in text for number in _FULL)
        return unwritable(exc) if full or not full_disk_only else None
    for number in _FULL if full_disk_only else _WRITE_ERRNOS:
        if found := re.search(rf"(\S+); {re.escape(os.strerror(number))}", text):
            return unwritable(OSError(number, os.strerror(number), found[1]))
    return None


def keep_traceback(log: Path, exc: BaseException) -> Path:
    """Append `exc`'s traceback to `log` (the user sees one line that names the file); `log` itself if that works,
    else the system's temporary folder's copy, so that a full results disk does not lose it."""
    text = f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')}\n" + "".join(traceback.format_exception(exc))
    for target in (log, Path(tempfile.gettempdir()) / f"fmnist-bench-{log.parent.name}-{log.name}"):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8") as handle:
                handle.write(text)
            return target
        except OSError:
            continue
    return log


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: a reader sees the old file or the new one, never a part.

    Raises:
        ResultsError: the file cannot be written (full disk, permissions); the temporary file is removed.
    """
    tmp = None
    try:
        with finishing_writes():  # Ctrl-C or SIGTERM now stops the process after this write, not in the middle
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
            os.replace(tmp, path)
            tmp = None  # in place: nothing to clean up, even if an interrupt deferred by the write follows
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise unwritable(exc, path) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, kind: str, payload: dict[str, Any]) -> None:
    """Write `{"schema": SCHEMA, "kind": kind, **payload}` with sorted keys (byte-stable for equal input)."""
    document = {"schema": SCHEMA, "kind": kind} | payload
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def read_json(path: Path, kind: str) -> dict[str, Any]:
    """Read a document written by `atomic_write_json`.

    Raises:
        ResultsError: missing, unreadable, not JSON, another kind, or a schema this version does not know.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} is unreadable or not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise ResultsError(f"{path} is not a {kind} record")
    if document.get("schema") != SCHEMA:
        raise ResultsError(f"{path} has schema {document.get('schema')!r}; this fmnist-bench reads schema {SCHEMA}")
    return document


def write_csv(path: Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    atomic_write_text(path, buffer.getvalue())


class RunPaths:
    """Where each file of a run lives; the one place that knows the layout."""

    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir
        self.config = run_dir / "config.json"
        self.env = run_dir / "env.json"
        self.summary = run_dir / "summary.md"
        self.studies = run_dir / "studies"
        self.work = run_dir / ".work"
        self.lock = run_dir / ".lock"
        self.chief_announcement = self.work / "chief.json"  # the study a chief serves now, for hand-started workers
        # the run's secret, which a chief asks of every caller: readable only by its owner, beside the announcement
        self.chief_token = self.work / "chief.token"
        # A replayed run holds hundreds of studies: one compressed file instead of a folder each; while the run is
        # in progress, finished studies are appended to the partial file (one fsync'd line each), which sits beside
        # the config rather than in .work so that a run stopped mid-way can be committed and resumed elsewhere.
        self.studies_archive = run_dir / "studies.jsonl.gz"
        self.studies_partial = run_dir / "studies.partial.jsonl"
        self.replay_log = self.work / "replay-workers.log"  # spawned replay processes' backend noise
        # A replayed run's comparisons replayed again on bootstrap resamples of its table (`tabular.noise`)
        self.table_noise = run_dir / "table_noise.json"
        self.table_noise_partial = run_dir / "table_noise.partial.jsonl"

    @classmethod
    def in_results(cls, results_dir: Path, run_id: str) -> RunPaths:
        return cls(results_dir / "runs" / run_id)

    def study_dir(self, strategy: str, seed: int) -> Path:
        return self.studies / study_name(strategy, seed)

    def study_work(self, strategy: str, seed: int) -> Path:
        return self.work / study_name(strategy, seed)

    def study(self, strategy: str, seed: int) -> StudyPaths:
        return StudyPaths(self.study_dir(strategy, seed), self.study_work(strategy, seed))

    @property
    def curves_epochs(self) -> Path:
        """Best validation accuracy against epochs spent, per strategy."""
        return self.root / "curves_epochs.png"

    @property
    def curves_time(self) -> Path:
        return self.root / "curves_time.png"

    @property
    def ranks(self) -> Path:
        """Anytime ranks over the budget (runs of 5 or more seeds)."""
        return self.root / "ranks.png"

    @property
    def critical_difference(self) -> Path:
        """The critical-difference diagram of final test accuracy (runs of 5 or more seeds)."""
        return self.root / "critical_difference.png"

    @property
    def curves_regret(self) -> Path:
        """A replayed run's simple regret against epochs spent."""
        return self.root / "curves_regret.png"

    def link(self, path: Path) -> str:
        """`path` as summary.md links it (relative to the run folder)."""
        return path.relative_to(self.root).as_posix()


@dataclasses.dataclass(frozen=True)
class StudyPaths:
    """One study's files: its committed records in `folder`, its working state in `work` (git-ignored)."""

    folder: Path
    work: Path

    @property
    def result(self) -> Path:
        """study.json, written last: a study is complete when it exists."""
        return self.folder / "study.json"

    @property
    def records(self) -> Path:
        return self.folder / "records.json"

    @property
    def trials_csv(self) -> Path:
        return self.folder / "trials.csv"

    @property
    def epochs_csv(self) -> Path:
        return self.folder / "epochs.csv"

    @property
    def confusion(self) -> Path:
        return self.folder / "confusion.png"

    @property
    def error_log(self) -> Path:
        """Tracebacks of unexpected errors (a bug, an unreadable project), kept for a report while the user sees one
        line."""
        return self.work / "errors.log"

    @property
    def tuner_project(self) -> Path:
        """keras-tuner's project folder (its oracle, trials and checkpoints)."""
        return self.work / "tuner"

    @property
    def trial_records(self) -> Path:
        """The harness's own record of each finished trial, one JSON file each."""
        return self.work / "records"

    def trial_record(self, number: int) -> Path:
        return self.trial_records / f"trial_{number:04d}.json"

    def stored_trial_records(self) -> dict[int, Path]:
        """The trial records on disk, by trial number."""
        return {int(p.stem.removeprefix("trial_")): p for p in sorted(self.trial_records.glob("trial_*.json"))}

    @property
    def search_clock(self) -> Path:
        """Wall seconds a chief's search has spent, summed over its processes."""
        return self.work / "search_wall.json"


class TablePaths:
    """Where each file of a tabular benchmark lives (`results/tables/<space>/`, see `fmnist_bench.tabular.table`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.spec = folder / "table.json"
        self.validation = folder / "VALIDATION.md"

    def curves(self, seed: int) -> Path:
        """A training seed's complete curves, written once its build is complete."""
        return self.folder / f"seed{seed}.jsonl.gz"

    def build(self, seed: int) -> Path:
        return self.folder / f"seed{seed}.json"

    def partial(self, seed: int) -> Path:
        """A build in progress: one fsync'd line per configuration (resumable; commit it to resume elsewhere)."""
        return self.folder / f"seed{seed}.partial.jsonl"

    def clock(self, seed: int) -> Path:
        return self.folder / f"seed{seed}.partial.clock.json"

    def worker_log(self, seed: int) -> Path:
        return self.folder / f".seed{seed}.workers.log"

    def complete_seeds(self) -> list[int]:
        return sorted(int(p.name.removeprefix("seed").split(".")[0]) for p in self.folder.glob("seed*.jsonl.gz"))


def set_aside(path: Path, suffix: str) -> Path:
    """Move a file or folder to `<name>.<suffix>` beside it, kept for the user: nothing finished is ever deleted."""
    return path.rename(path.with_name(f"{path.name}.{suffix}"))


def benchmarks_json_path(results_dir: Path) -> Path:
    """Where `pytest benchmarks --benchmark-json` is told to write (tox -e bench)."""
    return results_dir / "benchmarks" / "benchmarks.json"


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


def leaderboard_path(results_dir: Path) -> Path:
    return results_dir / "LEADERBOARD.md"


def answer_figure_path(results_dir: Path) -> Path:
    """The README's answer as a figure (`reports.answer`), beside the leaderboard it summarises."""
    return results_dir / "answer.png"


def summary_link(run_root: Path, home: Path | None = None) -> str:
    """A run's summary relative to the leaderboard in the folder `home` (default: the run's own results folder, whose
    LEADERBOARD.md links runs/<id>/summary.md; a run of another folder, `leaderboard --also`'s, gets the path there)."""
    if home is None:
        return f"runs/{run_root.name}/summary.md"
    return Path(os.path.relpath(run_root / "summary.md", home)).as_posix()


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
        revision = _space_revision(document)
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


def ensure_writable_dir(path: Path) -> None:
    """Create `path` (and parents) or explain in one line why it cannot be a results folder."""
    if path.exists() and not path.is_dir():
        raise ResultsError(f"results path {path} is a file, not a folder; pass another --results-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise ResultsError(f"results folder {path} is not writable ({exc.strerror}); pass another --results-dir") \
            from None


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


def load_study(files: StudyPaths) -> StoredStudy:
    """A complete study: its result and the trial and epoch records (in trial order)."""
    records = read_json(files.records, "records")
    return StoredStudy.from_dict({"result": read_json(files.result, "study"), "trials": records["trials"],
                                  "epochs": records["epochs"]})


@dataclasses.dataclass(frozen=True)
class StoredStudy:
    result: StudyResult
    trials: list[TrialRecord]
    epochs: list[EpochRecord]

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result.to_dict(), "trials": [t.to_dict() for t in self.trials],
                "epochs": [e.to_dict() for e in self.epochs]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredStudy:
        return cls(StudyResult.from_dict(data["result"]), [TrialRecord.from_dict(t) for t in data["trials"]],
                   [EpochRecord.from_dict(e) for e in data["epochs"]])


def _json_lines(documents: Iterable[dict[str, Any]]) -> str:
    """One JSON document per line, keys sorted (byte-stable for equal input)."""
    return "".join(json.dumps(d, sort_keys=True) + "\n" for d in documents)


def append_document(path: Path, document: dict[str, Any]) -> None:
    """Append one JSON line and fsync it: what a kill leaves is the lines before, and at most one cut-off last
    line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(_json_lines([document]))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:  # a cut-off line is dropped when read back, like one a kill leaves
        raise unwritable(exc, path) from None


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON documents of an append-only file (`append_document`) or its gzip archive.

    A `.gz` file is written whole and atomically, so any damage is an error; in an append-only file a last line
    that does not parse is what a kill in the middle of `append_document` leaves, and is dropped (its work is redone).

    Raises:
        ResultsError: the file cannot be read, or a line other than an appended last one is not JSON.
    """
    import gzip

    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ResultsError(f"cannot read {path} ({exc})") from None
    documents = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            documents.append(json.loads(line))
        except ValueError:
            if path.suffix != ".gz" and number == len(lines):
                break
            raise ResultsError(f"{path} line {number} is not JSON; move the file aside and run again") from None
    return documents


def write_lines(path: Path, documents: Iterable[dict[str, Any]]) -> None:
    """Write JSON lines atomically: an append-only file (`append_document`) rewritten whole."""
    atomic_write_text(path, _json_lines(documents))


def write_lines_gz(path: Path, documents: Iterable[dict[str, Any]]) -> None:
    """Write JSON lines as one gzip file, atomically, byte-stable for equal input (fixed mtime, sorted keys)."""
    import gzip

    atomic_write_bytes(path, gzip.compress(_json_lines(documents).encode("utf-8"), mtime=0))


@dataclasses.dataclass(frozen=True)
class StoredRun:
    """A run as read back from disk: only complete studies (those with a study.json) are included."""

    root: Path
    config: RunConfig  # with every field a run made before it existed at its default
    env: dict[str, Any]
    studies: list[StoredStudy]
    space_revision: int
    table_noise: dict[str, Any] | None = None  # a replay's bootstrap over its table's training runs, if made

    @property
    def space_label(self) -> str:
        """The space's name, with its revision from the second on (`ann r2`): old and new ranges never mix. A
        user's space (and data) by its label and fingerprints (`mlp-build_model-digits-load @3f2a1b0c/88282c7a`):
        an edited space or changed data is another benchmark."""
        cfg = self.config
        if cfg.is_user_space:
            prints = "/".join(p[:8] for p in (cfg.space_fingerprint, cfg.data_fingerprint) if p)
            return f"{cfg.space_label} @{prints}"
        return cfg.space if self.space_revision == 1 else f"{cfg.space} r{self.space_revision}"

    @property
    def strategies(self) -> list[str]:
        return [s for s in self.config.strategies if any(st.result.strategy == s for st in self.studies)]

    @property
    def seeds(self) -> list[int]:
        return sorted({st.result.seed for st in self.studies})


def _space_revision(config_document: dict[str, Any]) -> int:
    """The space revision a run searched: runs stored before revisions existed searched revision 1."""
    return int(config_document.get("space_revision", 1))


def read_config(paths: RunPaths) -> RunConfig:
    """The run's config, every field it was stored without at its default.

    Raises:
        ResultsError: missing, unreadable, or not a config this version can read.
    """
    return _config_of(read_json(paths.config, "config"), paths.config)


def _config_of(document: dict[str, Any], path: Path) -> RunConfig:
    try:
        return RunConfig.from_dict({"refit_seeds": LEGACY_REFIT_SEEDS} | document["config"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise ResultsError(f"{path} holds no config this version can read ({exc})") from None


def load_run(run_dir: Path) -> StoredRun:
    """Read a run folder.

    Raises:
        ResultsError: not a run folder, unknown schema, or no complete study yet.
    """
    if not (run_dir / "config.json").is_file():
        raise ResultsError(f"{run_dir} is not a run folder (no config.json); run `python -m fmnist_bench run` first")
    paths = RunPaths(run_dir)
    document = read_json(paths.config, "config")  # read once: the config and the space revision beside it
    config = _config_of(document, paths.config)
    env = read_json(paths.env, "env") if paths.env.is_file() else {}
    studies = []
    if paths.studies_archive.is_file():
        studies = [StoredStudy.from_dict(d) for d in read_lines(paths.studies_archive)]
    for strategy in config.strategies:
        for seed in config.seeds:
            files = paths.study(strategy, seed)
            if files.result.is_file():
                studies.append(load_study(files))
    if not studies:
        raise ResultsError(f"{run_dir} has no complete study yet; finish it with the same `run` command")
    noise = read_json(paths.table_noise, "table-noise") if paths.table_noise.is_file() else None
    return StoredRun(run_dir, config, env, studies, _space_revision(document), noise)
