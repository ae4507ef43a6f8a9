"""The parent of a run: lock the run folder, skip finished studies, run the rest in fresh processes, report.

Each study is a child process (`python -m fmnist_bench _study ...`): TensorFlow state never leaks between studies,
memory is returned after each, and `--jobs N` runs N of them side by side with identical results.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .config import RunConfig
from .data import load_raw
from .distributed import Serving
from .envinfo import utc_now
from .records import StudyResult, study_name
from .runtime import keras_backend
from .store import RunOutcome, RunPaths, atomic_write_json, ensure_writable_dir, prepare_run, read_json, run_lock
from .tables import fmt_seconds

__all__ = ["run_benchmark", "completed_study", "EXIT_RECYCLE", "EXIT_STUDY_FAILED"]

log = logging.getLogger(__name__)
EXIT_STUDY_FAILED = 3
EXIT_RECYCLE = 4  # the study stopped after --trials-per-process trials; resume it in a fresh process
# TensorFlow's C++ start-up chatter, printed before TF_CPP_MIN_LOG_LEVEL can apply, and its retracing warning (a
# study builds a new model per trial by design): dropped from children's stderr. (JAX's chatter is silenced at its
# logger, in runtime.)
_TF_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IW]\d{4} \S+ +\d+ \S+\] |"
                       r"E\d{4} .*NodeDef mentions attribute|To enable the following instructions: |"
                       r"\d+ out of the last \d+ calls to .* triggered tf\.function retracing)")


def _forward_stderr(process: subprocess.Popen[str]) -> threading.Thread:
    """Pass a child's stderr through line by line, minus TensorFlow's start-up noise."""
    stream = process.stderr

    def pump() -> None:
        for line in stream or ():
            if not _TF_NOISE.match(line):
                sys.stderr.write(line)
                sys.stderr.flush()
    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def completed_study(paths: RunPaths, cfg: RunConfig, strategy: str, seed: int) -> StudyResult | None:
    """The stored result if the study finished under this exact config, else None (it must run again)."""
    path = paths.study(strategy, seed).result
    if not path.is_file():
        return None
    result = StudyResult.from_dict(read_json(path, "study"))
    return result if result.config_digest == cfg.digest() else None


def _study_command(paths: RunPaths, strategy: str, seed: int, *, data_dir: Path | None, device: str,
                   threads: int, trials_per_process: int | None, serving: Serving | None) -> list[str]:
    command = [sys.executable, "-m", "fmnist_bench", "_study", "--run-dir", str(paths.root), "--strategy",
               strategy, "--seed", str(seed), "--device", device, "--threads", str(threads)]
    if trials_per_process is not None:
        command += ["--trials-per-process", str(trials_per_process)]
    if serving is not None:
        command += serving.study_args()
    return command + (["--data-dir", str(data_dir)] if data_dir is not None else [])


def run_benchmark(cfg: RunConfig, *, results_dir: Path, data_dir: Path | None = None, run_id: str | None = None,
                  jobs: int = 1, device: str = "auto", trials_per_process: int | None = None,
                  serving: Serving | None = None) -> RunOutcome:
    """Run every (strategy, seed) study of `cfg` that is not already complete in the run folder.

    With `cfg.workers > 1` each study is a keras-tuner chief with that many local workers; with `serving` it is a
    chief that listens where `serving` says for workers started by hand (`python -m fmnist_bench worker`).

    Raises:
        DataError: the data is missing or corrupt (checked here, before any study starts).
        ResultsError: the results folder is unusable, locked, or holds another config under this run id.
        KeyboardInterrupt: after stopping the children; finished studies stay, the rest resume next time.
    """
    keras_backend()  # fail in one line now rather than once per study, as for the data
    ensure_writable_dir(results_dir)
    load_raw(data_dir)
    paths = RunPaths.in_results(results_dir, run_id or cfg.run_id)
    ensure_writable_dir(paths.root)
    cells = [(strategy, seed) for seed in cfg.seeds for strategy in cfg.strategies]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if serving is None and cfg.workers > 1:
        serving = Serving(local_workers=cfg.workers)
    with run_lock(paths):
        prepare_run(paths, cfg)
        done = {(s, k): r for s, k in cells if (r := completed_study(paths, cfg, s, k)) is not None}
        pending = [cell for cell in cells if cell not in done]
        log.info("run %s: %d studies (%s x seeds %s), %d already complete; results in %s", paths.root.name,
                 len(cells), "/".join(cfg.strategies), ",".join(map(str, cfg.seeds)), len(done), paths.root)
        if serving is not None and serving.announce is not None:
            atomic_write_json(serving.announce, "chief", {"state": "starting"})  # not a previous run's "done"
        try:
            failed = _run_pending(paths, cfg, pending, done, data_dir=data_dir, device=device, jobs=jobs,
                                  threads=threads, total=len(cells), trials_per_process=trials_per_process,
                                  serving=serving)
        finally:
            if serving is not None and serving.announce is not None:
                atomic_write_json(serving.announce, "chief", {"state": "done"})  # hand-started workers exit
        if pending:  # a rerun of a complete run must not move its finish time
            env = {k: v for k, v in read_json(paths.env, "env").items() if k not in ("schema", "kind")}
            atomic_write_json(paths.env, "env", env | {"finished_at": utc_now(),
                                                        "devices": sorted({r.device for r in done.values()})})
    return RunOutcome(paths, [done[c] for c in cells if c in done], failed)


def _run_pending(paths: RunPaths, cfg: RunConfig, pending: list[tuple[str, int]],
                 done: dict[tuple[str, int], StudyResult], *, data_dir: Path | None, device: str, jobs: int,
                 threads: int, total: int, trials_per_process: int | None,
                 serving: Serving | None) -> list[str]:
    failed: list[str] = []
    running: dict[tuple[str, int], tuple[subprocess.Popen[str], float]] = {}
    queue = list(pending)
    durations: list[float] = []
    started_at: dict[tuple[str, int], float] = {}
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                strategy, seed = cell = queue.pop(0)
                if cell not in started_at:
                    log.info("study %d/%d: %s seed %d started", len(done) + len(failed) + len(running) + 1, total,
                             strategy, seed)
                    started_at[cell] = time.perf_counter()
                process = subprocess.Popen(_study_command(paths, strategy, seed, data_dir=data_dir, device=device,
                                                          threads=threads, trials_per_process=trials_per_process,
                                                          serving=serving),
                                           # keras-tuner print()s ("Reloading Tuner from ...") to stdout; progress
                                           # and errors go to stderr through logging
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                _forward_stderr(process)
                running[cell] = (process, started_at[cell])
            time.sleep(0.2)
            for cell, (process, started) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[cell]
                if process.returncode == EXIT_RECYCLE:
                    queue.insert(0, cell)  # same study, fresh process, resumes after its last finished trial
                    continue
                durations.append(time.perf_counter() - started)
                result = completed_study(paths, cfg, *cell)
                if result is None:
                    failed.append(f"{study_name(*cell)}: exited with code {process.returncode}"
                                  + (" (study failed, see the message above)"
                                     if process.returncode == EXIT_STUDY_FAILED else ""))
                    log.error("study %s failed; the other studies go on", study_name(*cell))
                    continue
                done[cell] = result
                remaining = len(queue) + len(running)
                eta = sum(durations) / len(durations) * remaining / jobs
                # the process's wall time; the tables show search and final fit, which it contains
                log.info("study %d/%d done: %s seed %d, test accuracy %.4f; process wall time %s (search %s, "
                         "final fit %s, the rest start-up and evaluation)%s", len(done) + len(failed), total, cell[0],
                         cell[1], result.test["accuracy"], fmt_seconds(durations[-1]),
                         fmt_seconds(result.search_seconds), fmt_seconds(result.final_fit_seconds),
                         f"; ~{fmt_seconds(eta)} left" if remaining else "")
    except KeyboardInterrupt:
        _stop(running)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    return failed


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop(running: dict[tuple[str, int], tuple[subprocess.Popen[str], float]]) -> None:
    """Stop the children promptly; their finished trials are on disk and resume next time."""
    for process, _ in running.values():
        if process.poll() is None:
            process.terminate()
    for process, _ in running.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
