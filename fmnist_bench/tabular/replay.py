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
import random
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..config import RunConfig
from ..data import CLASS_NAMES
from ..errors import StudyFailed, TableError
from ..records import EpochRecord, StudyResult, TrialRecord, TrialStatus, epoch_span, pruned_reason, split_values
from ..tabular.table import Curve, Table, early_stopping_length, final_epoch

if TYPE_CHECKING:
    from ..outcome import Refit
    from ..store import RunPaths, StoredStudy

__all__ = ["check_table", "grid_hyperparameters", "load_replay_table", "replay_device",
           "replay_study", "run_replay", "table_seeds_read"]

log = logging.getLogger(__name__)
TUNER_ID = "replay"


def grid_hyperparameters(table: Table) -> Any:
    """The search space as the live tuner declares it: a user's space exactly as its build declared it (stored in the
    spec), a built-in grid as `spaces.AnnGridSpace` does, one Choice per grid name in the order of the names (the
    oracles draw in declaration order; a table's grid does not keep the order)."""
    import keras_tuner as kt

    if table.spec.hyperparameters is not None:
        return kt.HyperParameters.from_config(table.spec.hyperparameters)
    hp = kt.HyperParameters()
    for name in sorted(table.spec.grid):
        hp.Choice(name, list(table.spec.grid[name]))
    return hp


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


class _Clock:
    """Simulated seconds of one study: what the oracle's time budget reads (`_EpochBudget.spent_seconds`)."""

    def __init__(self) -> None:
        self.spent = 0.0

    def __call__(self) -> float:
        return self.spent


def _oracle(cfg: RunConfig, strategy: str, seed: int, table: Table, clock: _Clock) -> Any:
    from ..engine.ktbridge import in_memory
    from ..engine.strategies import STRATEGIES, stream_seed

    oracle = STRATEGIES[strategy](cfg, stream_seed(cfg, strategy, seed))
    oracle.spent_seconds = clock
    in_memory(oracle)
    oracle.update_space(grid_hyperparameters(table))
    return oracle


def _draw(table: Table, *key: object) -> int:
    """A table seed fixed by `key`, whatever else the process replayed before."""
    seeds = table.seeds
    return seeds[0] if len(seeds) == 1 else random.Random(":".join(map(str, key))).choice(seeds)


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
    stream, trials, epochs, best, chosen_seed, clock_spent, stop_reason = _search(cfg, strategy, seed, table)
    origin = table.curve(best.params, chosen_seed).seed  # the training run behind the (pseudo-)seed it read
    fits = {s: _refit(cfg, final, best.params, s) for s in final.seeds}  # each training run's final fit, read once
    refits = [fits[s] for s in refit_table_seeds(cfg, final, origin, stream)]
    by_seed = {str(s): fit.scores.accuracy for s, fit in fits.items()}
    result = study_result(cfg, strategy, seed, trials=trials, best=best, refits=refits, search_seconds=clock_spent,
                          device=replay_device(table), threads=1, workers=1, stop_reason=stop_reason,
                          chosen_table_seed=chosen_seed, test_accuracy_by_table_seed=by_seed,
                          held_out_test_accuracy=held_out_scores(cfg, strategy, seed, table) if held_out else None)
    return result, trials, epochs


def held_out_scores(cfg: RunConfig, strategy: str, seed: int, table: Table) -> dict[str, float]:
    """Leave one training run out: per whole-grid seed h, the study searched on the other seeds alone, its chosen
    configuration's final fit read from h (early stopping as every replayed final fit). Empty for one run."""
    if len(table.seeds) < 2:
        return {}
    scores = {}
    for left_out in table.seeds:
        others = table.only(tuple(s for s in table.seeds if s != left_out))
        best = _search(cfg, strategy, seed, others)[3]
        scores[str(left_out)] = _refit(cfg, table, best.params, left_out).scores.accuracy
    return scores


def _search(cfg: RunConfig, strategy: str, seed: int, table: Table
            ) -> tuple[int, list[TrialRecord], list[EpochRecord], TrialRecord, int, float, str]:
    """The study's search over the table: (its random stream, trials, epochs, the chosen trial, the table seed it
    read, simulated search seconds, why the search ended).

    Raises:
        TableError: the oracle asked for a configuration the table lacks.
        StudyFailed: every trial failed (each diverged).
    """
    import keras_tuner as kt

    from ..engine.strategies import stream_seed
    from ..outcome import choose

    stream = stream_seed(cfg, strategy, seed)
    clock = _Clock()
    oracle = _oracle(cfg, strategy, seed, table, clock)
    prunes = getattr(oracle, "prunes", False)  # reports every epoch, and its pruning calls are oracle compute
    name = f"{strategy}-s{seed}"
    trials: list[TrialRecord] = []
    epochs: list[EpochRecord] = []
    table_seeds: dict[str, int] = {}  # keras-tuner trial id -> the table seed it reads
    keras_ids: dict[str, str] = {}  # record id -> keras-tuner trial id
    while True:
        start = time.perf_counter()
        trial = oracle.create_trial(TUNER_ID)
        oracle_seconds = time.perf_counter() - start
        if trial.status == kt.engine.trial.TrialStatus.STOPPED:
            break
        if trial.status != kt.engine.trial.TrialStatus.RUNNING:  # IDLE needs a trial in flight: never, serially
            raise StudyFailed(f"{strategy} seed {seed}: the oracle answered {trial.status} with no trial running")
        values = dict(trial.hyperparameters.values)
        params, budget = split_values(values)
        parent = values.get("tuner/trial_id")
        table_seeds[trial.trial_id] = table_seeds[parent] if parent else _draw(table, stream, trial.trial_id)
        curve = table.curve(params, table_seeds[trial.trial_id])
        first, last = epoch_span(values, cfg.epochs_per_trial)
        record_id = f"{name}-t{int(trial.trial_id):03d}"
        keras_ids[record_id] = trial.trial_id
        start = time.perf_counter()
        trained, score, reason = report_epochs(oracle, trial.trial_id, curve, first, last, record_id, epochs)
        oracle_seconds += time.perf_counter() - start if prunes else 0.0
        # stopped by the pruner (told to Optuna as PRUNED), at its last epoch too, as live
        pruned = not reason and prunes and oracle.pruned_epochs(trial.trial_id) is not None
        if pruned:  # the budget is charged the epochs it trained
            last, reason = first + trained, pruned_reason(first + trained)
        failed = bool(reason) and not pruned
        trial.status = kt.engine.trial.TrialStatus.FAILED if failed else kt.engine.trial.TrialStatus.COMPLETED
        trial.message = reason if failed else None
        oracle.end_trial(trial)
        seconds = curve.setup_seconds + float(np.sum(curve.seconds[first:first + trained]))
        trials.append(TrialRecord(
            trial_id=record_id, number=int(trial.trial_id),
            status=TrialStatus.FAILED if failed else TrialStatus.COMPLETE,
            score=score, params=params, epochs_target=last,
            initial_epoch=first, epochs_trained=trained, seconds=round(seconds, 4), bracket=budget.get("bracket"),
            round=budget.get("round"), parent=f"{name}-t{int(parent):03d}" if parent else None, reason=reason,
            oracle_seconds=round(oracle_seconds, 5)))
        clock.spent += trials[-1].cost_seconds
    best = choose(trials, strategy, seed)
    return stream, trials, epochs, best, table_seeds[keras_ids[best.trial_id]], clock.spent, oracle.stop_reason


def report_epochs(oracle: Any, trial_id: str, curve: Curve, first: int, last: int, record_id: str,
                   epochs: list[EpochRecord]) -> tuple[int, float | None, str]:
    """Read epochs first+1..last of the curve and report the trial's result to the oracle as keras-tuner does
    (`BaseTuner._run_and_update_trial`): once, the metrics of its best epoch (the first maximum of val_accuracy),
    at that epoch's index in the trial's history. A pruning oracle also gets every epoch as the live tuner sends it
    (`HarnessTuner.on_epoch_end`) and may stop the trial after it. Returns (epochs trained, the trial's score,
    failure reason): the score is that best epoch's validation accuracy, None for a failed trial."""
    import keras_tuner as kt

    from ..engine.tpe import EPOCH_REPORT

    prunes = getattr(oracle, "prunes", False)
    history: list[dict[str, float]] = []
    for index in range(first, last):
        loss = float(curve.loss[index])
        metrics = {"loss": loss, "accuracy": float(curve.accuracy[index]), "val_loss": float(curve.val_loss[index]),
                   "val_accuracy": float(curve.val_accuracy[index])}
        # stored rounded (float32 values printed in full would double a replayed run's size); the oracle sees
        # the exact values, as live
        epochs.append(EpochRecord(trial_id=record_id, epoch=index + 1, seconds=round(float(curve.seconds[index]), 4),
                                  **{k: round(v, 6) for k, v in metrics.items()}))
        history.append(metrics)
        if not np.isfinite(loss):
            return len(history), None, f"diverged: training loss became {loss} in epoch {index + 1}"
        if prunes and oracle.update_trial(trial_id, metrics | {EPOCH_REPORT: 1.0}, step=len(history) - 1).status \
                == kt.engine.trial.TrialStatus.STOPPED:
            break
    best = 0
    for step, metrics in enumerate(history):
        if metrics["val_accuracy"] > history[best]["val_accuracy"]:
            best = step
    oracle.update_trial(trial_id, history[best], step=best)
    return len(history), history[best]["val_accuracy"], ""


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
    from ..store import set_aside, write_lines

    earlier = sorted({tuple(table_seeds_read(st.result)) for st in stale})
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
    return [_draw(table, stream, "final", index) for index in range(cfg.refits)]


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
    from ..store import RunOutcome, StoredStudy, append_document, open_run, read_lines, record_finish, write_lines_gz
    from ..markdown import fmt_seconds

    table = load_replay_table(cfg, tables_dir)
    cells = cfg.cells
    with connected(scheduler) as client, open_run(results_dir, run_id or cfg.run_id, cfg, collect_env()) as paths:
        stored = [st for path in (paths.studies_archive, paths.studies_partial) if path.is_file()
                  for st in map(StoredStudy.from_dict, read_lines(path)) if st.result.config_digest == cfg.digest()]
        done: dict[tuple[str, int], StoredStudy] = {}
        for st in stored:  # the archive first, then the partial file: a study replayed again replaces its old line
            if table_seeds_read(st.result) == table.seeds:
                done[(st.result.strategy, st.result.seed)] = st
        if stale := [st for st in stored if table_seeds_read(st.result) != table.seeds]:
            _set_aside_other_tables(paths, stale, table.seeds, list(done.values()))
        if unchecked := [c for c, st in done.items() if len(table.seeds) > 1 and not st.result.held_out_test_accuracy]:
            log.warning("replay %s: %d stored studies lack the checks with each training run held out (replayed "
                        "before they existed); they are replayed again to add them (the same searches and "
                        "scores; only the oracle's measured seconds differ)", paths.root.name, len(unchecked))
            for cell in unchecked:
                del done[cell]
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
                "replay_sklearn_config": ORACLE_SKLEARN_CONFIG,
                "replay_seconds": round(time.perf_counter() - start, 1),
                "table": {"folder": str(tables_dir / cfg.space_label), "seeds": table.seeds,
                          "builds": {str(s): {k: b.get(k) for k in ("devices", "finished_at", "wall_seconds")}
                                     | {"backend": table.backend(s)}
                                     for s, b in table.builds.items() if s in table.seeds}}})
    return RunOutcome(paths, [done[c].result for c in cells if c in done], failed)


REPLAY_TABLE: dict[str, Any] = {}
ORACLE_SKLEARN_CONFIG = {"assume_finite": True, "skip_parameter_validation": True}


def replay_threads(jobs: int, threads: int | None, client: Any, in_process: bool = False) -> int | None:
    """BLAS/OpenMP threads of each replaying process (None: the libraries' defaults, in the caller's process)."""
    from ..processes import core_share

    if client is not None:
        return threads or 1
    return threads if in_process else threads or core_share(jobs)


def init_replayer(table: Table) -> None:
    """Set up a replaying process.

    BayesianOptimization's compute is most of a replay, and about a tenth of that is scikit-learn validating its
    inputs once per Gaussian-process prediction of keras-tuner's acquisition search (a replayed study ran in 0.89x
    the time without the checks, `benchmarks/test_bench_replay.py`). Replays skip those checks: the proposals are
    the same (the benchmark asserts it), and the oracle seconds a replay records are that much lower than a live
    study's on the same machine (docs/tabular.md).
    """
    import warnings

    import sklearn

    sklearn.set_config(**ORACLE_SKLEARN_CONFIG)
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
