"""The parent of a run: lock the run folder, skip finished studies, run the rest in fresh processes, report.

Each study is a child process (a `processes.StudyJob`): TensorFlow state never leaks between studies, memory is
returned after each, and `--jobs N` runs N of them side by side with identical results.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import NamedTuple

from ..config import RunConfig
from ..datasets import load_checked
from ..environment import collect_env, device_class, keras_backend, like_this_machine, utc_now
from ..errors import ResultsError
from .. import catalog
from ..processes import EXIT_RECYCLE, Child, Serving, StudyJob, Supervisor, core_share, interrupt_on_sigterm
from ..records import StudyResult, study_name
from ..engine.runtime import check_device
from ..engine.userspace import probe_in_child
from ..store import REFERENCE_RESULTS, RunOutcome, RunPaths, atomic_write_json, ensure_writable_dir, list_run_dirs, \
    open_run, read_config, read_json, record_finish
from ..markdown import fmt_seconds

__all__ = ["Estimate", "completed_study", "describe_estimate", "estimate_seconds", "run_benchmark"]

log = logging.getLogger(__name__)
STUDY_WALL = "study_wall_seconds"  # env.json: each study's process wall time, by study name


def completed_study(paths: RunPaths, cfg: RunConfig, strategy: str, seed: int) -> StudyResult | None:
    """The stored result if the study finished under this exact config, else None (it must run again)."""
    path = paths.study(strategy, seed).result
    if not path.is_file():
        return None
    result = StudyResult.from_dict(read_json(path, "study"))
    return result if result.config_digest == cfg.digest() else None


def _work_per_study(cfg: RunConfig) -> str:
    """What a study of `cfg` computes, whatever the run's seeds and strategies: studies with equal keys cost alike."""
    document = cfg.to_dict() | {"seeds": None, "strategies": None, "preset": None}
    return json.dumps(document, sort_keys=True, default=str)


class Estimate(NamedTuple):
    seconds: float
    studies: int  # the stored studies it rests on
    lower_bound: bool  # their records lack the study processes' start-up, so the run takes longer
    folders: tuple[Path, ...] = ()  # the results folders those studies came from, named where it is printed


def estimate_seconds(cfg: RunConfig, folders: list[Path], cells: list[tuple[str, int]], *, jobs: int,
                     device: str) -> Estimate | None:
    """The wall time `cells` should take at `jobs` at once, from the studies under `folders` (the user's results, the
    shipped reference) that did the same work per study on the same kind of device (`--device auto` reads CPU
    studies) and, on a CPU, on a machine like this one (CPU model and core count): each cell costs the median process
    wall time of its strategy's studies (of any strategy where its own has none). Studies stored before runs
    recorded that wall time count only where no other exists, and then as a lower bound (search and final fit
    alone, without the process's start-up). None when no such study exists."""
    wanted, kind = _work_per_study(cfg), "gpu" if device == "gpu" else "cpu"
    walls: dict[str, list[float]] = {}
    partial: dict[str, list[float]] = {}  # search plus final fit of studies without a recorded wall time
    used: dict[bool, set[Path]] = {True: set(), False: set()}  # by whether the study recorded its wall time
    for source, run_dir in sorted({(f, run) for f in folders for run in list_run_dirs(f)}):
        paths = RunPaths(run_dir)
        try:
            stored = read_config(paths)
        except ResultsError:
            continue
        if stored.replay or _work_per_study(stored) != wanted:
            continue
        env = read_json(paths.env, "env") if paths.env.is_file() else {}
        if kind == "cpu" and not like_this_machine(env):
            continue
        recorded = env.get(STUDY_WALL, {})
        for strategy, seed in itertools.product(stored.strategies, stored.seeds):
            result = completed_study(paths, stored, strategy, seed)
            if result is not None and device_class(result.device) == kind:
                name = study_name(strategy, seed)
                if name in recorded:
                    walls.setdefault(strategy, []).append(recorded[name])
                else:
                    partial.setdefault(strategy, []).append(result.search_seconds + result.final_fit_seconds)
                used[name in recorded].add(source)
    seconds = walls or partial
    if not seconds:
        return None
    pooled = statistics.median(s for values in seconds.values() for s in values)
    total = sum(statistics.median(seconds[s]) if s in seconds else pooled for s, _ in cells)
    return Estimate(total / min(jobs, max(len(cells), 1)), sum(map(len, seconds.values())), not walls,
                    tuple(sorted(used[bool(walls)])))


def describe_estimate(estimate: Estimate | None) -> str:
    if estimate is None:
        return "no time estimate (no stored study of this config on a machine like this one)"
    where = " and ".join(str(folder) for folder in estimate.folders)
    based = f"from {estimate.studies} stored studies of this config on a machine like this one, in {where}"
    if estimate.lower_bound:
        return (f"at least {fmt_seconds(estimate.seconds)} ({based}, whose records lack each study process's "
                "start-up: add several seconds per study)")
    return f"about {fmt_seconds(estimate.seconds)} ({based})"


def run_benchmark(cfg: RunConfig, *, results_dir: Path, data_dir: Path | None = None, run_id: str | None = None,
                  jobs: int = 1, threads: int | None = None, device: str = "auto",
                  trials_per_process: int | None = None,
                  serving: Serving | None = None) -> RunOutcome:
    """Run every (strategy, seed) study of `cfg` that is not already complete in the run folder.

    With `cfg.workers > 1` each study is a keras-tuner chief with that many local workers; with `serving` it is a
    chief that listens where `serving` says for workers started by hand (`python -m fmnist_bench worker`).

    Raises:
        DataError: the data is missing or corrupt (checked here, before any study starts).
        ResultsError: the results folder is unusable, locked, or holds another config under this run id; or a
            study could not write to it (disk full, permissions): then every study is stopped, finished ones stay.
        KeyboardInterrupt: after stopping the children; finished studies stay, the rest resume next time.
    """
    keras_backend()  # fail in one line now rather than once per study, as for the data and the device
    ensure_writable_dir(results_dir)
    raw = load_checked(cfg.data, cfg.data_fingerprint, data_dir)
    if cfg.is_user_space:  # a space that does not build, or builds the wrong model, fails here in one line
        for warning in probe_in_child(cfg.space, cfg.space_fingerprint, len(raw.class_names)).warnings:
            log.warning("%s", warning)
    check_device(device)
    cells = cfg.cells
    threads = threads or core_share(jobs)  # each study's TensorFlow and BLAS/OpenMP pools (processes.Child)
    if serving is None and cfg.workers > 1:
        serving = Serving(local_workers=cfg.workers)
    with open_run(results_dir, run_id or cfg.run_id, cfg, collect_env()) as paths:
        done = {(s, k): r for s, k in cells if (r := completed_study(paths, cfg, s, k)) is not None}
        refuse_other_device(paths, done, device)
        pending = [cell for cell in cells if cell not in done]
        log.info("run %s, live training: %d studies (%s x seeds %s), %d already complete, %s; results in %s",
                 paths.root.name, len(cells), "/".join(cfg.strategies), ",".join(map(str, cfg.seeds)), len(done),
                 describe_estimate(estimate_seconds(cfg, [results_dir, REFERENCE_RESULTS], pending, jobs=jobs,
                                                    device=device))
                 if pending else "nothing left to run", paths.root)
        if pending and catalog.grid_of(cfg.space) is not None:
            log.info("%s has a tabular benchmark: `--replay` reads its trials from the table in seconds instead of "
                     "training them", cfg.space)
        if serving is not None and serving.announce is not None:
            atomic_write_json(serving.announce, "chief", {"state": "starting"})  # not a previous run's "done"
        try:
            jobs_of = {cell: StudyJob(paths.root, *cell, device=device, threads=threads, data_dir=data_dir,
                                      trials_per_process=trials_per_process, serving=serving,
                                      parent_pid=os.getpid(), log_level=logging.getLogger().getEffectiveLevel())
                       for cell in pending}
            failed, walls = _run_pending(paths, cfg, jobs_of, done, jobs=jobs, total=len(cells))
        finally:
            if serving is not None and serving.announce is not None:
                atomic_write_json(serving.announce, "chief", {"state": "done"})  # hand-started workers exit
        if pending:  # a rerun of a complete run must not move its finish time
            env = read_json(paths.env, "env")
            record_finish(paths, {"finished_at": utc_now(), "devices": sorted({r.device for r in done.values()}),
                                  STUDY_WALL: env.get(STUDY_WALL, {}) | walls})
        with contextlib.suppress(OSError):  # each finished study emptied its part of .work; keep it if not empty
            paths.work.rmdir()
    return RunOutcome(paths, [done[c] for c in cells if c in done], failed)


def refuse_other_device(paths: RunPaths, done: dict[tuple[str, int], StudyResult], device: str) -> None:
    """A run finished on a CPU is never passed off as the GPU run asked for with `--device gpu`, nor the reverse
    (`--device auto` takes whatever the run holds).

    Raises:
        ResultsError: the run folder holds studies made on the other kind of device.
    """
    if device == "auto":
        return
    other = sorted({r.device for r in done.values() if device_class(r.device) != device})
    if other:
        raise ResultsError(f"{paths.root} holds studies made on {'; '.join(other)}, and --device {device} was asked "
                           "for; pass another --run-id to run them on this device, or --device auto to read them")


def _run_pending(paths: RunPaths, cfg: RunConfig, pending: dict[tuple[str, int], StudyJob],
                 done: dict[tuple[str, int], StudyResult], *, jobs: int, total: int
                 ) -> tuple[list[str], dict[str, float]]:
    """Run the pending studies, `jobs` at once; (the failures, each finished study's process wall seconds)."""
    failed: list[str] = []
    walls: dict[str, float] = {}
    queue = list(pending)
    durations: list[float] = []
    started_at: dict[tuple[str, int], float] = {}
    # a study that cannot write stops the others (Supervisor.ended); Ctrl-C or SIGTERM stops them on the way out
    with interrupt_on_sigterm(), Supervisor[tuple[str, int]]() as running:
        while queue or running:
            while queue and len(running) < jobs:
                strategy, seed = cell = queue.pop(0)
                if cell not in started_at:
                    log.info("study %d/%d: %s seed %d started", len(done) + len(failed) + len(running) + 1,
                             total, strategy, seed)
                    started_at[cell] = time.perf_counter()
                running.start(cell, Child(pending[cell]))
            for cell, child, code in running.ended(lambda cell: study_name(*cell), poll_seconds=0.2):
                if code == EXIT_RECYCLE:
                    queue.insert(0, cell)  # same study, fresh process, resumes after its last finished trial
                    continue
                durations.append(time.perf_counter() - started_at[cell])
                result = completed_study(paths, cfg, *cell)
                if result is None:
                    failed.append(f"{study_name(*cell)}: {child.describe_exit()}")
                    log.error("study %s failed; the other studies go on", study_name(*cell))
                    continue
                done[cell] = result
                walls[study_name(*cell)] = round(durations[-1], 1)
                remaining = len(queue) + len(running)
                eta = sum(durations) / len(durations) * remaining / jobs
                # the process's wall time; the tables show search and final fit, which it contains
                log.info("study %d/%d done: %s seed %d, test accuracy %.4f; process wall time %s (search %s, "
                         "final fit %s, the rest start-up and evaluation)%s", len(done) + len(failed), total,
                         cell[0], cell[1], result.test.accuracy, fmt_seconds(durations[-1]),
                         fmt_seconds(result.search_seconds), fmt_seconds(result.final_fit_seconds),
                         f"; ~{fmt_seconds(eta)} left" if remaining else "")
    return failed, walls
