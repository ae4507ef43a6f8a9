"""Replayed studies: keras-tuner's own oracles choose the trials, a tabular benchmark answers them.

The oracle is the one a live study builds (`strategies.STRATEGIES`, with the harness's budgets), over the same
search space declared in the same order, so it proposes exactly what it would propose live given the same scores.
Instead of a Keras model, a trial reads its epochs from the table (`fmnist_bench.tabular.table`) and reports them to the
oracle one epoch at a time, as keras-tuner's `Tuner.on_epoch_end` does; the oracle scores a trial by its best
epoch. Nothing is trained, so hundreds of studies run in one process in minutes.

What a replay approximates, and how:
- A Hyperband promotion (`tuner/initial_epoch` > 0) continues the stored curve from the parent's last epoch; live,
  keras-tuner reloads the parent's best-epoch checkpoint with a fresh optimizer. It keeps its parent's table seed.
- Each trial draws one table seed (of those covering the whole grid) and keeps it. The final fits read every other
  whole-grid seed, one fit each, and the study's test accuracy is their mean (`refit_seeds="others"`): a live final
  fit starts from a fresh initialisation, so it must not reuse the run its trial was scored on. Replays stored
  before that rule (`refit_seeds="drawn"`) drew a seed per refit, the chosen trial's own included.
- Simulated time is the table's model set-up and epoch seconds (the machine that built the table) plus this
  process's measured oracle compute; a promotion's first epoch carries no compilation, as its stored epoch did not.
- A trial whose stored training loss is not finite fails at that epoch, as `TerminateOnNaN` and the live tuner's
  divergence check make it fail.
- The final fit reads the chosen configuration's curve with early stopping on validation accuracy (Keras's rule:
  stop after `patience` epochs without a strict gain, restore the best epoch) and its test scores at that epoch.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..config import RunConfig
from ..data import CLASS_NAMES
from ..errors import StudyFailed, TableError
from ..records import EpochRecord, StudyResult, TrialRecord
from ..tabular.search import draw_table_seed, search
from ..tabular.table import Table, early_stopping_length, final_epoch
from .oracle_shortcuts import ORACLE_SKLEARN_CONFIG

if TYPE_CHECKING:
    from ..outcome import Refit
    from ..store import RunPaths, StoredStudy

__all__ = ["check_table", "load_replay_table", "replay_device", "replay_study", "run_replay", "stored_replays",
           "table_seeds_read"]

log = logging.getLogger(__name__)


def check_table(cfg: RunConfig, table: Table) -> None:
    """Refuse a replay whose config reads what the table does not hold.

    Raises:
        TableError: another split size or batch size, or trials/final fit longer than the stored curves.
    """
    spec = table.spec
    if cfg.val_size != spec.val_size or cfg.batch_size != spec.batch_size:
        raise TableError(f"the table at {table.folder} was trained with val_size {spec.val_size} and batch size "
                         f"{spec.batch_size}; this run asks for {cfg.val_size} and {cfg.batch_size}")
    longest = max(cfg.epochs_per_trial, cfg.final_epochs)
    if longest > spec.epochs:
        raise TableError(f"the table at {table.folder} stores {spec.epochs} epochs per configuration; this run "
                         f"reads up to {longest} (epochs per trial {cfg.epochs_per_trial}, final fit "
                         f"{cfg.final_epochs})")
    if not table.seeds:
        raise TableError(f"the table at {table.folder} has no seed covering the whole grid; finish one with "
                         "`table build`")
    if cfg.refits_on_other_seeds and len(table.seeds) < 2:
        if cfg.table_seeds is not None:
            raise TableError(f"--table-seeds {table.seeds[0]} is one training run; final fits on the seeds the "
                             "chosen trial did not read need two or more (or pass --refit-seeds drawn)")
        raise TableError(f"the table at {table.folder} has one whole-grid seed; final fits on the seeds the chosen "
                         "trial did not read need two or more (build another with `table build --seed K`)")


def replay_device(table: Table) -> str:
    """The `device` of a replayed study: 'replay: ...' (the leaderboard files it apart from live cpu/gpu runs)."""
    built = sorted({d for s in table.seeds for d in table.builds.get(s, {}).get("devices", [])})
    return (f"replay: table {table.spec.label} seeds {','.join(map(str, table.seeds))}"
            + (f" (built on {'; '.join(built)})" if built else ""))


def replay_study(cfg: RunConfig, strategy: str, seed: int, table: Table, *, final_table: Table | None = None,
                 held_out: bool = True) -> tuple[StudyResult, list[TrialRecord], list[EpochRecord]]:
    """Search with the strategy's oracle over the table, then the replayed final fit(s); nothing touches disk.

    The final fits read `final_table` (default: the same table): its training runs other than the one the chosen
    trial read, identified by the curve's own training seed, so that a bootstrap table that drew one run twice
    (`noise.resampled_table`) cannot hand the chosen trial's run back as a "different" one. With `held_out` and two
    or more runs, the same study is also searched once per run on the other runs alone and its final fit read from
    the run left out (`StudyResult.held_out_test_accuracy`), at one more search per run.

    Raises:
        TableError: the oracle asked for a configuration the table lacks.
        StudyFailed: every trial failed (each diverged).
    """
    from ..outcome import study_result

    final = final_table or table
    found = search(cfg, strategy, seed, table, workers=cfg.workers)
    origin = table.curve(found.best.params, found.chosen_table_seed).seed  # the run behind the (pseudo-)seed it read
    fits = {s: _refit(cfg, final, found.best.params, s) for s in final.seeds}  # each run's final fit, read once
    refits = [fits[s] for s in refit_table_seeds(cfg, final, origin, found.stream)]
    by_seed = {str(s): fit.scores.accuracy for s, fit in fits.items()}
    result = study_result(cfg, strategy, seed, trials=found.trials, best=found.best, refits=refits,
                          search_seconds=found.seconds, device=replay_device(table), threads=1, workers=cfg.workers,
                          stop_reason=found.stop_reason, chosen_table_seed=found.chosen_table_seed,
                          test_accuracy_by_table_seed=by_seed,
                          held_out_test_accuracy=held_out_scores(cfg, strategy, seed, table) if held_out else None)
    return result, found.trials, found.epochs


def held_out_scores(cfg: RunConfig, strategy: str, seed: int, table: Table) -> dict[str, float]:
    """Leave one training run out: per whole-grid seed h, the study searched on the other seeds alone, its chosen
    configuration's final fit read from h (early stopping as every replayed final fit). Empty for one run."""
    if len(table.seeds) < 2:
        return {}
    scores = {}
    for left_out in table.seeds:
        others = table.only(tuple(s for s in table.seeds if s != left_out))
        best = search(cfg, strategy, seed, others, workers=cfg.workers).best
        scores[str(left_out)] = _refit(cfg, table, best.params, left_out).scores.accuracy
    return scores


def stored_replays(paths: RunPaths, cfg: RunConfig, table_seeds: list[int]
                   ) -> tuple[dict[tuple[str, int], StoredStudy], list[StoredStudy], list[StoredStudy]]:
    """A replayed run's stored studies of `cfg`: those a replay on `table_seeds` keeps, by (strategy, seed); those
    replayed on other table seeds; and those it must replay again to add the held-out checks (stored before them)."""
    from ..store import StoredStudy, read_lines

    stored = [st for path in (paths.studies_archive, paths.studies_partial) if path.is_file()
              for st in map(StoredStudy.from_dict, read_lines(path)) if st.result.config_digest == cfg.digest()]
    done: dict[tuple[str, int], StoredStudy] = {}
    for st in stored:  # the archive first, then the partial file: a study replayed again replaces its old line
        if table_seeds_read(st.result) == table_seeds:
            done[(st.result.strategy, st.result.seed)] = st
    unchecked = [done.pop(c) for c in [c for c, st in done.items()
                                       if len(table_seeds) > 1 and not st.result.held_out_test_accuracy]]
    return done, [st for st in stored if table_seeds_read(st.result) != table_seeds], unchecked


def table_seeds_read(result: StudyResult) -> list[int]:
    """The whole-grid seeds a replayed study read: its record holds a final fit read from each of them (records
    from before 2026-12-01 name them only in their `device`, as `replay_device` writes it)."""
    if result.test_accuracy_by_table_seed:
        return sorted(int(seed) for seed in result.test_accuracy_by_table_seed)
    named = re.search(r" seeds ([\d,]+)", result.device)
    return [int(seed) for seed in named.group(1).split(",")] if named else []


def _set_aside_other_tables(paths: RunPaths, stale: list[StoredStudy], seeds: list[int], kept: list[StoredStudy]
                            ) -> None:
    """The same config replayed again after its table gained (or lost) whole-grid seeds: the studies and table noise
    read from the earlier seeds are moved aside beside the run, not mixed with new ones nor overwritten, and the
    studies already replayed on the current seeds go on in a fresh partial file."""
    from ..environment import utc_now
    from ..store import read_json, record_finish, set_aside, write_lines

    earlier = sorted({tuple(table_seeds_read(st.result)) for st in stale})
    # the run starts again on the new seeds: its env says when, and keeps when the set-aside replay had started
    started = read_json(paths.env, "env").get("started_at")
    record_finish(paths, {"started_at": utc_now(), "earlier_started_at": started})
    suffix = "table-seeds-" + "_".join("-".join(map(str, s)) or "unknown" for s in earlier)
    for path in (paths.studies_archive, paths.studies_partial, paths.table_noise, paths.table_noise_partial):
        if path.is_file():
            set_aside(path, suffix)
    if kept:
        write_lines(paths.studies_partial, (st.to_dict() for st in kept))
    log.warning("replay %s: %d stored studies were replayed on table seeds %s, and the table's whole-grid seeds are "
                "now %s: they are replayed again on these (the earlier files are kept as *.%s; --table-seeds reads "
                "some seeds alone)", paths.root.name, len(stale), " and ".join(",".join(map(str, s)) for s in earlier),
                ",".join(map(str, seeds)), suffix)


def refit_table_seeds(cfg: RunConfig, table: Table, chosen_run: int | None, stream: int) -> list[int]:
    """The table seeds a study's final fits read: every whole-grid seed but the training run the chosen trial read,
    or (`drawn`) one drawn per refit."""
    if cfg.refits_on_other_seeds:
        return [s for s in table.seeds if s != chosen_run]
    return [draw_table_seed(table, stream, "final", index) for index in range(cfg.refits)]


def _refit(cfg: RunConfig, table: Table, params: dict[str, Any], table_seed: int) -> Refit:
    """The final fit read from the table: early stopping on validation accuracy, best epoch restored; no test loss
    (the table stores test accuracy and the confusion matrix only)."""
    from ..engine.metrics import scores_from_confusion
    from ..outcome import Refit

    curve = table.curve(params, table_seed)
    history = curve.val_accuracy[:cfg.final_epochs]
    run = early_stopping_length(history, cfg.patience)
    best = final_epoch(history, cfg.patience)
    if not np.all(np.isfinite(curve.loss[:run])):
        raise StudyFailed(f"the replayed final fit of {params} diverged (its stored loss is not finite)")
    classes = tuple(table.spec.class_names) if table.spec.class_names is not None else CLASS_NAMES
    return Refit([float(v) for v in history[:run]], None, scores_from_confusion(curve.confusion[best], classes),
                 curve.setup_seconds + float(np.sum(curve.seconds[:run])), table_seed=table_seed)


def load_replay_table(cfg: RunConfig, tables_dir: Path) -> Table:
    """The table a replay of `cfg` reads, checked against the config.

    Raises:
        TableError: none for this space, another grid revision, or curves that do not cover what the run reads.
    """
    from ..tabular.table import load_table

    table = load_table(tables_dir / cfg.space_label, space=cfg.space, revision=cfg.space_revision)
    spec = table.spec
    if (spec.space_fingerprint, spec.data_fingerprint) != (cfg.space_fingerprint, cfg.data_fingerprint):
        raise TableError(f"the table at {table.folder} was built from another version of the space or data "
                         f"(fingerprints {spec.space_fingerprint}/{spec.data_fingerprint}, this run's "
                         f"{cfg.space_fingerprint}/{cfg.data_fingerprint}); rebuild it with `table build` into "
                         "another --tables-dir, or restore the files")
    if cfg.table_seeds is not None:
        table = table.only(cfg.table_seeds)
    check_table(cfg, table)
    return table


def run_replay(cfg: RunConfig, *, results_dir: Path, tables_dir: Path, run_id: str | None = None,
               jobs: int = 1, threads: int | None = None, scheduler: str | None = None, in_process: bool = True
               ) -> Any:
    """Replay every (strategy, seed) study of `cfg` that the run folder lacks: `jobs` processes, each replaying
    many studies, or the workers of the Dask cluster at `scheduler` (a study is independent of which process
    replays it: every random stream is keyed by the study).

    Finished studies are appended to the run's partial file as they end (a kill loses at most the studies in
    progress); when every study is in, they are written in (seed, strategy) order to `studies.jsonl.gz`.
    Each of the `jobs` processes bounds its BLAS/OpenMP pools to `threads` (default: its share of the cores), so
    that keras-tuner's Bayesian oracle does not oversubscribe them. One job replays in this process (bounded only
    when `threads` is given) when `in_process`, else in one spawned process: the CLI's choice, whose own process
    never imports keras-tuner or changes scikit-learn's global configuration.

    Raises:
        TableError: no usable table. ResultsError: the results folder is unusable, locked, or another config.
        ClusterError: the scheduler cannot be reached, or a worker cannot replay (other software).
    """
    from ..cluster import connected
    from ..environment import collect_env, utc_now
    from ..store import RunOutcome, StoredStudy, append_document, clone_relative, open_run, record_finish, \
        write_lines_gz
    from ..markdown import fmt_seconds

    table = load_replay_table(cfg, tables_dir)
    cells = cfg.cells
    with connected(scheduler) as client, open_run(results_dir, run_id or cfg.run_id, cfg, collect_env()) as paths:
        done, stale, unchecked = stored_replays(paths, cfg, table.seeds)
        if stale:
            _set_aside_other_tables(paths, stale, table.seeds, list(done.values()) + unchecked)
        if unchecked:
            log.warning("replay %s: %d stored studies lack the checks with each training run held out (replayed "
                        "before they existed); they are replayed again to add them (the same searches and "
                        "scores; only the oracle's measured seconds differ)", paths.root.name, len(unchecked))
        pending = [cell for cell in cells if cell not in done]
        log.info("replay %s: %d studies (%s x %d seeds) over %s, %d already complete, %s; results in %s",
                 paths.root.name, len(cells), "/".join(cfg.strategies), len(cfg.seeds), replay_device(table),
                 len(done), f"on the Dask cluster at {scheduler}" if client else f"{jobs} process(es)", paths.root)
        failed: list[str] = []
        here = in_process and client is None and (jobs == 1 or len(pending) <= 1)
        start = last_note = time.perf_counter()
        for number, (cell, outcome) in enumerate(_replay_cells(cfg, table, pending, jobs, threads,
                                                               paths.replay_log, client, here), 1):
            if isinstance(outcome, str):
                failed.append(outcome)
                log.error("%s", outcome)
                continue
            append_document(paths.studies_partial, outcome)
            done[cell] = StoredStudy.from_dict(outcome)
            now = time.perf_counter()
            if now - last_note >= 5 or number == len(pending):
                last_note = now
                log.info("replay %s: %d/%d studies, %s elapsed, ETA %s", paths.root.name, len(done), len(cells),
                         fmt_seconds(now - start), fmt_seconds((now - start) / number * (len(pending) - number)))
        if pending:
            write_lines_gz(paths.studies_archive, (done[c].to_dict() for c in cells if c in done))
            paths.studies_partial.unlink(missing_ok=True)
            record_finish(paths, {
                "finished_at": utc_now(), "devices": [replay_device(table)],
                "replay_jobs": None if client else jobs, "replay_scheduler": scheduler,
                "replay_threads": replay_threads(jobs, threads, client, here),
                "replay_sklearn_config": ORACLE_SKLEARN_CONFIG, "replay_gp_query_checks": False,
                "replay_seconds": round(time.perf_counter() - start, 1),
                "table": {"folder": clone_relative(tables_dir / cfg.space_label), "seeds": table.seeds,
                          "builds": {str(s): {k: b.get(k) for k in ("devices", "finished_at", "wall_seconds")}
                                     | {"backend": table.backend(s)}
                                     for s, b in table.builds.items() if s in table.seeds}}})
    return RunOutcome(paths, [done[c].result for c in cells if c in done], failed)


REPLAY_TABLE: dict[str, Any] = {}


def replay_threads(jobs: int, threads: int | None, client: Any, in_process: bool = False) -> int | None:
    """BLAS/OpenMP threads of each replaying process (None: the libraries' defaults, in the caller's process)."""
    from ..processes import core_share

    if client is not None:
        return threads or 1
    return threads if in_process else threads or core_share(jobs)


def init_replayer(table: Table) -> None:
    """Set up a replaying process: the table it reads, and the shortcuts that make keras-tuner's Bayesian oracle
    cheaper without changing a proposal (`oracle_shortcuts`)."""
    import warnings

    from .oracle_shortcuts import install_oracle_shortcuts

    install_oracle_shortcuts()
    # BayesianOptimization's Gaussian process fit warns when a length scale hits its bound or its L-BFGS-B does not
    # converge; neither is actionable, and a replay of hundreds of studies would print thousands
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    REPLAY_TABLE["table"] = table


def _replay_one(cfg: RunConfig, cell: tuple[str, int]) -> dict[str, Any] | str:
    """One study as the JSON document the run stores, or the one-line reason it failed."""
    from ..store import StoredStudy

    try:
        return StoredStudy(*replay_study(cfg, cell[0], cell[1], REPLAY_TABLE["table"])).to_dict()
    except StudyFailed as exc:
        return str(exc)


def _replay_cells(cfg: RunConfig, table: Table, cells: list[tuple[str, int]], jobs: int, threads: int | None,
                  log_path: Path, client: Any, in_process: bool
                  ) -> Iterator[tuple[tuple[str, int], dict[str, Any] | str]]:
    """(cell, outcome) as studies finish: in this process (`in_process`), else in `jobs` spawned processes or on the
    Dask `client`'s workers (each gets the table from here: they need no copy of the tables folder)."""
    from ..cluster import farm
    from ..environment import software_identity

    if in_process:
        from threadpoolctl import threadpool_limits

        init_replayer(table)
        with threadpool_limits(limits=threads):  # None: unchanged
            for cell in cells:
                yield cell, _replay_one(cfg, cell)
        return
    for cell, future in farm(functools.partial(_replay_one, cfg), cells, jobs=jobs,
                             threads=replay_threads(jobs, threads, client) or 1, initializer=init_replayer,
                             initargs=(table,), log=log_path, client=client, identity=software_identity):
        yield cell, future.result()
