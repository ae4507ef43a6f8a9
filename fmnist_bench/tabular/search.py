"""A replayed search: a strategy's oracle driven over a table by one or more simulated workers.

Each free worker asks the oracle for a trial, as a keras-tuner worker asks its chief (its own tuner id; the oracle
sees every trial still running), reads the trial's epochs from the table and reports them as keras-tuner's tuner does
(`report` below). Time is simulated: an epoch ends when the table's recorded model set-up and epoch seconds (on the
machine that built it) say it does. With one worker this is the serial replay every committed replay was made with.

The event rule, which makes a search a function of its seed: events are ordered by their time on the *table's*
clock (the recorded training seconds, the same on every machine); at the same time, epochs end before workers ask,
and a lower-numbered worker goes first. The oracle's compute is measured here and charged to the worker that waited
for it (its proposals, and a pruner's judgement after each epoch): it is added to the times a trial records
(`started`, `ended`), to the search's seconds and to what a time budget reads, but it never reorders events, since a
measured second differs from run to run. A worker the oracle tells to wait (IDLE: Hyperband's rung is not complete)
asks again when the next trial ends; a worker told STOPPED leaves; the search ends when no worker is left.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import StudyFailed
from ..records import EpochRecord, TrialRecord, TrialStatus, epoch_span, pruned_reason, split_values

if TYPE_CHECKING:
    from ..config import RunConfig
    from .table import Curve, Table

__all__ = ["Search", "draw_table_seed", "grid_hyperparameters", "search", "tuner_id"]

_EPOCH, _ASK = 0, 1  # event kinds, in the order they go at the same simulated time


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


def tuner_id(worker: int, workers: int) -> str:
    """The tuner id a simulated worker asks the oracle with ('replay' for a serial search, as replays always did)."""
    return "replay" if workers == 1 else f"worker{worker}"


@dataclasses.dataclass(frozen=True)
class Search:
    """What a replayed search found: its trials (in creation order) and epochs, the chosen trial, the table seed
    that trial read, the search's simulated seconds (when its last trial ended) and why it ended."""

    stream: int
    trials: list[TrialRecord]
    epochs: list[EpochRecord]
    best: TrialRecord
    chosen_table_seed: int
    seconds: float
    stop_reason: str


@dataclasses.dataclass
class _Running:
    """A trial on a worker: what it reads, where it is, what it has cost."""

    trial: Any
    record_id: str
    params: dict[str, Any]
    budget: dict[str, Any]  # Hyperband's bracket and round
    parent: str | None  # the keras-tuner trial a promotion continues
    curve: Curve
    first: int
    last: int
    start: float  # on the table's clock
    started: float  # start + the worker's oracle seconds so far: what the record says
    oracle_seconds: float
    scale: float
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)


def search(cfg: RunConfig, strategy: str, seed: int, table: Table, *, workers: int = 1, jitter: float = 0.0
           ) -> Search:
    """The study's search over the table with `workers` simulated workers. `jitter` > 0 scales every trial's
    recorded seconds by a factor drawn from [1 - jitter, 1 + jitter] (seeded by study and trial): the same search
    with workers finishing in another order (`tabular.order`).

    Raises:
        TableError: the oracle asked for a configuration the table lacks.
        StudyFailed: every trial failed (each diverged), or the oracle answered IDLE with no trial running.
    """
    return _Simulation(cfg, strategy, seed, table, workers, jitter).run()


def draw_table_seed(table: Table, *key: object) -> int:
    """A table seed fixed by `key`, whatever else the process replayed before."""
    seeds = table.seeds
    return seeds[0] if len(seeds) == 1 else random.Random(":".join(map(str, key))).choice(seeds)


class _Simulation:
    """One search's event loop (the module's docstring says the rule)."""

    def __init__(self, cfg: RunConfig, strategy: str, seed: int, table: Table, workers: int, jitter: float) -> None:
        from ..engine.ktbridge import in_memory
        from ..engine.strategies import STRATEGIES, stream_seed

        self.cfg, self.strategy, self.seed, self.table = cfg, strategy, seed, table
        self.workers, self.jitter = workers, jitter
        self.stream = stream_seed(cfg, strategy, seed)
        self.name = f"{strategy}-s{seed}"
        self.now = 0.0  # what the oracle's time budget reads: the asking worker's time
        self.oracle = STRATEGIES[strategy](cfg, self.stream)
        self.oracle.spent_seconds = lambda: self.now
        in_memory(self.oracle)
        self.oracle.update_space(grid_hyperparameters(table))
        self.prunes = bool(getattr(self.oracle, "prunes", False))  # reports every epoch to its pruner
        self.oracle_clock = [0.0] * workers  # each worker's measured seconds waiting on the oracle
        self.queue: list[tuple[float, int, int]] = [(0.0, _ASK, w) for w in range(workers)]
        self.running: dict[int, _Running] = {}
        self.waiting: list[int] = []  # workers told IDLE, asking again when a trial ends
        self.trials: list[TrialRecord] = []
        self.epochs: list[EpochRecord] = []
        self.table_seeds: dict[str, int] = {}  # keras-tuner trial id -> the table seed it reads
        self.keras_ids: dict[str, str] = {}  # record id -> keras-tuner trial id
        self.end = 0.0

    def run(self) -> Search:
        from ..outcome import choose

        while self.queue:
            time_, kind, worker = heapq.heappop(self.queue)
            if kind == _ASK:
                self._ask(time_, worker)
            else:
                self._epoch(time_, worker)
        self.trials.sort(key=lambda t: t.number)
        self.epochs.sort(key=lambda e: (int(e.trial_id.rsplit("-t", 1)[1]), e.epoch))
        best = choose(self.trials, self.strategy, self.seed)
        return Search(self.stream, self.trials, self.epochs, best, self.table_seeds[self.keras_ids[best.trial_id]],
                      self.end, self.oracle.stop_reason)

    def _ask(self, now: float, worker: int) -> None:
        import keras_tuner as kt

        status = kt.engine.trial.TrialStatus
        self.now = now + self.oracle_clock[worker]
        start = time.perf_counter()
        trial = self.oracle.create_trial(tuner_id(worker, self.workers))
        spent = time.perf_counter() - start
        self.oracle_clock[worker] += spent
        if trial.status == status.STOPPED:
            return
        if trial.status == status.IDLE and self.running:
            self.waiting.append(worker)
            return
        if trial.status != status.RUNNING:  # IDLE needs a trial in flight: never with one worker
            raise StudyFailed(f"{self.strategy} seed {self.seed}: the oracle answered {trial.status} with no trial "
                              "running")
        values = dict(trial.hyperparameters.values)
        params, budget = split_values(values)
        parent = values.get("tuner/trial_id")
        self.table_seeds[trial.trial_id] = (self.table_seeds[parent] if parent
                                            else draw_table_seed(self.table, self.stream, trial.trial_id))
        first, last = epoch_span(values, self.cfg.epochs_per_trial)
        record_id = f"{self.name}-t{int(trial.trial_id):03d}"
        self.keras_ids[record_id] = trial.trial_id
        scale = (random.Random(f"{self.stream}:{record_id}:jitter").uniform(1 - self.jitter, 1 + self.jitter)
                 if self.jitter else 1.0)
        run = _Running(trial, record_id, params, budget, parent,
                       self.table.curve(params, self.table_seeds[trial.trial_id]), first, last,
                       start=now, started=now + self.oracle_clock[worker], oracle_seconds=spent, scale=scale)
        self.running[worker] = run
        heapq.heappush(self.queue, (now + scale * (run.curve.setup_seconds + float(run.curve.seconds[first])),
                                    _EPOCH, worker))

    def _epoch(self, now: float, worker: int) -> None:
        """Epoch `len(history)` of the worker's trial has ended: recorded, and (a pruning oracle) reported."""
        import keras_tuner as kt

        from ..engine.tpe import EPOCH_REPORT

        run = self.running[worker]
        index = run.first + len(run.history)
        metrics = report(run.curve, index, run.record_id, self.epochs)
        run.history.append(metrics)
        if not np.isfinite(metrics["loss"]):
            self._end(now, worker, f"diverged: training loss became {metrics['loss']} in epoch {index + 1}")
            return
        if self.prunes:
            start = time.perf_counter()
            answer = self.oracle.update_trial(run.trial.trial_id, metrics | {EPOCH_REPORT: 1.0},
                                              step=len(run.history) - 1)
            spent = time.perf_counter() - start
            run.oracle_seconds += spent
            self.oracle_clock[worker] += spent
            if answer.status == kt.engine.trial.TrialStatus.STOPPED:
                self._end(now, worker, "")
                return
        if index + 1 == run.last:
            self._end(now, worker, "")
            return
        heapq.heappush(self.queue, (now + run.scale * float(run.curve.seconds[index + 1]), _EPOCH, worker))

    def _end(self, now: float, worker: int, reason: str) -> None:
        """The worker's trial ends (its last epoch, its pruner, or a diverged loss); the worker and every waiting
        one ask again at once."""
        import keras_tuner as kt

        status = kt.engine.trial.TrialStatus
        run = self.running.pop(worker)
        trial, trained = run.trial, len(run.history)
        score = None
        if not reason:  # once, the metrics of its best epoch (the first maximum), at that epoch's index
            best = int(np.argmax([m["val_accuracy"] for m in run.history]))
            self.oracle.update_trial(trial.trial_id, run.history[best], step=best)
            score = run.history[best]["val_accuracy"]
        last = run.last
        # stopped by the pruner (told to Optuna as PRUNED), at its last epoch too, as live
        pruned = not reason and self.prunes and self.oracle.pruned_epochs(trial.trial_id) is not None
        if pruned:  # the budget is charged the epochs it trained
            last, reason = run.first + trained, pruned_reason(run.first + trained)
        failed = bool(reason) and not pruned
        trial.status = status.FAILED if failed else status.COMPLETED
        trial.message = reason if failed else None
        self.oracle.end_trial(trial)
        seconds = run.scale * (run.curve.setup_seconds + float(np.sum(run.curve.seconds[run.first:run.first
                                                                                          + trained])))
        ended = now + self.oracle_clock[worker]
        parallel = self.workers > 1
        self.trials.append(TrialRecord(
            trial_id=run.record_id, number=int(trial.trial_id),
            status=TrialStatus.FAILED if failed else TrialStatus.COMPLETE,
            score=score, params=run.params, epochs_target=last, initial_epoch=run.first, epochs_trained=trained,
            seconds=round(seconds, 4), bracket=run.budget.get("bracket"), round=run.budget.get("round"),
            parent=f"{self.name}-t{int(run.parent):03d}" if run.parent else None, reason=reason,
            oracle_seconds=round(run.oracle_seconds, 5),
            worker=tuner_id(worker, self.workers) if parallel else None,
            started=round(run.started, 4) if parallel else None, ended=round(ended, 4) if parallel else None))
        self.end = max(self.end, ended)
        for asking in sorted([worker, *self.waiting]):
            heapq.heappush(self.queue, (now, _ASK, asking))
        self.waiting.clear()


def report(curve: Curve, index: int, record_id: str, epochs: list[EpochRecord]) -> dict[str, float]:
    """Epoch `index` of the curve as keras-tuner's tuner logs it, appended to `epochs` as the study stores it: rounded
    (float32 values printed in full would double a replayed run's size); the oracle sees the exact values, as live."""
    metrics = {"loss": float(curve.loss[index]), "accuracy": float(curve.accuracy[index]),
               "val_loss": float(curve.val_loss[index]), "val_accuracy": float(curve.val_accuracy[index])}
    epochs.append(EpochRecord(trial_id=record_id, epoch=index + 1, seconds=round(float(curve.seconds[index]), 4),
                              **{k: round(v, 6) for k, v in metrics.items()}))
    return metrics
