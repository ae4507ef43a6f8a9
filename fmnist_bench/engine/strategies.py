"""RandomSearch, Hyperband, BayesianOptimization and Optuna's TPE (`engine.tpe`, with or without its Hyperband
pruner) under one epoch budget, with the harness's hooks.

Fairness: every oracle stops handing out trials once the next trial would push the epochs it has planned past
`budget_epochs`, so all strategies spend (close to) the same number of training epochs. Hyperband's own schedule
(`max_epochs`, `factor`, iterations) would otherwise decide its cost; here it runs as many iterations as fit.

Reproducibility: weights and shuffling are seeded per trial from (study seed, trial id), not once per process, so a
trial gives the same result whether the study ran straight through or was resumed after a kill.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import keras
import keras_tuner as kt
import numpy as np

from .. import catalog
from ..engine import ktbridge
from ..engine.tpe import EPOCH_REPORT, OptunaOracle, proposal_seed
from ..config import RunConfig
from ..errors import ProcessRecycle, ResultsError
from ..records import epoch_span
from ..store import atomic_write_text, write_failure

__all__ = ["STOP_EPOCHS", "STOP_EXHAUSTED", "STOP_SECONDS", "STRATEGIES", "HarnessTuner",
           "TrialObserver", "asha_oracle", "bayesian_oracle", "build_tuner", "hyperband_oracle", "random_oracle",
           "stream_seed", "tpe_asha_oracle", "tpe_hyperband_oracle", "tpe_oracle", "trial_cost", "trial_seed",
           "worker_env", "write_state_atomically"]

OBJECTIVE = kt.Objective("val_accuracy", direction="max")
STOP_EPOCHS = "epoch budget spent"
STOP_SECONDS = "time budget spent"
STOP_EXHAUSTED = "oracle exhausted: no new configuration after keras-tuner's duplicate-proposal limit"
IDLE_PAUSE_SECONDS = 1.0


def worker_env(tuner_id: str, host: str, port: int, token: str) -> dict[str, str]:
    """The environment that turns a keras-tuner Tuner into a worker of the chief at host:port, with the run's token
    for the chief."""
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port),
            ktbridge.TOKEN_VARIABLE: token}


class _Unwritable(ResultsError, kt.errors.FatalError):
    """A write to the results folder failed inside a trial: a FatalError, so keras-tuner stops the search instead of
    recording a full disk as a FAILED trial, and a ResultsError, so the study ends with one line and resumes later."""


def _save_json_atomically(path: str, obj: Any) -> str:
    """keras-tuner's state files (every oracle, trial and tuner state), written through a rename: a kill or a full
    disk in the middle leaves the previous file instead of a cut-off one that would cost the study a restart."""
    text = json.dumps(obj)
    try:
        atomic_write_text(Path(path), text)
    except ResultsError as exc:  # raised inside keras-tuner's trial loop, which would record it as a failed trial
        raise _Unwritable(str(exc)) from None
    return text


def write_state_atomically() -> None:
    """From now on in this process, keras-tuner writes its state files atomically and keeps the tracebacks of failed
    trials in their records, off stderr (a study or worker's set-up)."""
    ktbridge.route_state_files(_save_json_atomically)
    ktbridge.quiet_failed_trials()


def in_creation_order(trials: dict[str, Any]) -> dict[str, Any]:
    """keras-tuner's trials keyed by id ('00', '01', ... '100'), in the order the oracle created them."""
    return dict(sorted(trials.items(), key=lambda item: int(item[0])))


def trial_cost(values: dict[str, Any], default_epochs: int) -> int:
    """Epochs a trial trains: Hyperband's promoted trials resume from their parent's checkpoint."""
    first, last = epoch_span(values, default_epochs)
    return last - first


def stream_seed(cfg: RunConfig, strategy: str, seed: int) -> int:
    """The seed of a study's random streams (oracle, weight init, refit): the seed itself when strategies are
    paired, else one of the strategy's own (>= 1: keras-tuner reads 0 as 'random')."""
    if cfg.streams == "paired":
        return seed
    return int.from_bytes(hashlib.sha256(f"{strategy}:{seed}".encode()).digest()[:4], "big") % (2**31 - 1) + 1


def trial_seed(study_seed: int, trial_id: str) -> int:
    """A seed per trial that does not depend on what ran before it in this process."""
    digest = hashlib.sha256(f"{study_seed}:{trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1) + 1


class _EpochBudget:
    """Oracle mixin: stop when the next trial would exceed the study's epoch budget, or once its time budget is
    spent. The time spent is read from the harness's own trial records (`spent_seconds`, set by `build_tuner`),
    so it survives process restarts and counts the trials of every worker."""

    trials: dict[str, kt.engine.trial.Trial]  # the oracle's, which this mixin precedes

    def __init__(self, *args: Any, epoch_budget: int, default_epochs: int, seconds_budget: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epoch_budget = epoch_budget
        self.default_epochs = default_epochs
        self.seconds_budget = seconds_budget
        self.spent_seconds: Callable[[], float] = lambda: 0.0
        self.stop_reason = STOP_EPOCHS  # also when max_trials (budget / epochs per trial) ends a random search
        self.budget_spent = False

    def reload(self) -> None:
        """keras-tuner reloads the trials in the order its glob lists their folders (hash order on ext4:
        trial_02, trial_00, trial_03, trial_01), and BayesianOptimization fits its Gaussian process to the trials
        in dict order: a resumed study proposed slightly different values (lr 0.0013135937 instead of 0.0013135231
        for the 4th trial of the full run's seed 5) and went its own way from there. Back in creation order, a
        resumed study proposes what an uninterrupted one does."""
        super().reload()  # type: ignore[misc]  # a mixin: the oracle class follows it
        ktbridge.settle_reloaded_trials(self)
        self.trials = in_creation_order(self.trials)

    def epochs_planned(self) -> int:
        return sum(self.trial_epochs(t) for t in self.trials.values())

    def trial_epochs(self, trial: kt.engine.trial.Trial) -> int:
        """The epochs a trial costs the budget: those its schedule plans."""
        return trial_cost(trial.hyperparameters.values, self.default_epochs)

    def next_trial_cost(self) -> int | None:
        """The next trial's epochs when known before asking the strategy (then a spent budget asks nothing)."""
        return None

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The strategy's proposal, unless a budget is spent. The first proposal that does not fit ends the search
        for every worker (`budget_spent`): with several, a cheaper proposal asked for later must not carry a
        search on past the point where a serial one ends."""
        stopped = {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}
        if self.budget_spent:
            return stopped
        if self.seconds_budget is not None and self.spent_seconds() >= self.seconds_budget:
            return self._spend(STOP_SECONDS)
        known = self.next_trial_cost()
        if known is not None and self.epochs_planned() + known > self.epoch_budget:
            return self._spend(STOP_EPOCHS)
        response = super().populate_space(trial_id)  # type: ignore[misc]  # a mixin: the oracle class follows it
        if response["status"] == kt.engine.trial.TrialStatus.STOPPED:
            # keras-tuner's oracles stop after max_collisions duplicate proposals: on a small or grid space a search
            # can end before its budget, which the study records instead of passing over it
            self.stop_reason = STOP_EXHAUSTED
        elif response["status"] == kt.engine.trial.TrialStatus.RUNNING:
            cost = trial_cost(response["values"], self.default_epochs)
            if self.epochs_planned() + cost > self.epoch_budget:
                self.withdraw(trial_id)
                return self._spend(STOP_EPOCHS)
        return response

    def _spend(self, reason: str) -> dict[str, Any]:
        self.budget_spent, self.stop_reason = True, reason
        return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}

    def withdraw(self, trial_id: str) -> None:
        """Forget a proposal the budget refused, where the strategy keeps a record of what it proposed."""


class _RandomOracle(_EpochBudget, kt.oracles.RandomSearchOracle):
    pass


class _HyperbandOracle(_EpochBudget, kt.oracles.HyperbandOracle):
    def withdraw(self, trial_id: str) -> None:
        ktbridge.forget_round_entry(self, trial_id)


class _BayesianOracle(_EpochBudget, kt.oracles.BayesianOptimizationOracle):
    """keras-tuner does not save the optimiser's RandomState; re-deriving it per trial makes resume exact."""

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        ktbridge.reseed_bayesian(self, np.random.RandomState(proposal_seed(self.seed, len(self.trials))))
        return super().populate_space(trial_id)


class _BudgetedOptunaOracle(_EpochBudget, OptunaOracle):
    """An Optuna study (TPE, or random draws for ASHA) under the harness's budgets: a trial plans `epochs_per_trial`
    epochs, and one the pruner stopped costs the epochs it trained."""

    def trial_epochs(self, trial: kt.engine.trial.Trial) -> int:
        pruned = self.pruned_epochs(trial.trial_id)
        return super().trial_epochs(trial) if pruned is None else pruned

    def next_trial_cost(self) -> int | None:
        return self.default_epochs


class TrialObserver(Protocol):
    """What the study listens to; the tuner calls it, the study records and reports."""

    def trial_started(self, trial: kt.engine.trial.Trial) -> None: ...
    def epoch_started(self, trial: kt.engine.trial.Trial, epoch: int) -> None: ...
    def epoch_ended(self, trial: kt.engine.trial.Trial, epoch: int, logs: dict[str, float]) -> None: ...
    def trial_ended(self, trial: kt.engine.trial.Trial, reason: str, pruned: bool = False) -> None: ...
    def oracle_answered(self, seconds: float) -> None: ...
    def spent_seconds(self) -> float: ...


class HarnessTuner(kt.Tuner):
    """keras-tuner's Tuner with per-trial seeding, divergence detection and an observer instead of printing."""

    oracle: Any  # set by kt.Tuner.__init__; a worker swaps it for a patient client

    def __init__(self, *, oracle: kt.Oracle, hypermodel: kt.HyperModel, directory: str, project_name: str,
                 seed: int, observer: TrialObserver, trials_per_process: int | None = None,
                 reports_epochs: bool = False) -> None:
        kt.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, directory=directory,
                          project_name=project_name, overwrite=False)
        self._study_seed = seed
        self._observer = observer
        self._failure_reasons: dict[str, str] = {}
        self._trials_left = trials_per_process
        self._reports_epochs = reports_epochs
        self._pruned: set[str] = set()  # trials the oracle's pruner stopped, until their end is recorded
        if ktbridge.is_worker(self):
            self.oracle = ktbridge.patient_client(self, IDLE_PAUSE_SECONDS, os.environ.get(ktbridge.TOKEN_VARIABLE))

    def on_trial_begin(self, trial: kt.engine.trial.Trial) -> None:
        # A trial retried after a resume still holds the metrics of its interrupted run: start it clean.
        ktbridge.clear_trial_metrics(trial)
        keras.utils.set_random_seed(trial_seed(self._study_seed, trial.trial_id))
        self._observer.trial_started(trial)
        super().on_trial_begin(trial)

    def on_epoch_begin(self, trial: kt.engine.trial.Trial, model: Any, epoch: int, logs: Any = None) -> None:
        if ktbridge.is_worker(self):
            self.oracle.get_trial(trial.trial_id)  # heartbeat: the chief gives up trials of silent workers
        self._observer.epoch_started(trial, epoch)

    def on_epoch_end(self, trial: kt.engine.trial.Trial, model: Any, epoch: int, logs: Any = None) -> None:
        super().on_epoch_end(trial, model, epoch, logs=logs)
        self._observer.epoch_ended(trial, epoch, dict(logs or {}))
        # A pruning strategy: the oracle may stop the trial after this epoch (a diverged epoch fails the trial instead,
        # and is not reported, as in a replay)
        if self._reports_epochs and math.isfinite(float((logs or {}).get("loss", math.nan))):
            report = {name: float(value) for name, value in (logs or {}).items()} | {EPOCH_REPORT: 1.0}
            start = time.perf_counter()
            answer = self.oracle.update_trial(trial.trial_id, report, step=epoch)
            self._observer.oracle_answered(time.perf_counter() - start)  # the pruner's compute is the oracle's
            if answer.status == kt.engine.trial.TrialStatus.STOPPED:
                model.stop_training = True
                self._pruned.add(trial.trial_id)

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        except Exception as exc:
            if (failed_write := write_failure(exc)) is None:
                raise
            raise _Unwritable(str(failed_write)) from None  # its checkpoint or a record could not be written
        for history in histories:
            losses = history.history.get("loss", [])
            if losses and not math.isfinite(losses[-1]):
                first = history.epoch[len(losses) - 1] + 1
                reason = f"diverged: training loss became {losses[-1]} in epoch {first}"
                self._failure_reasons[trial.trial_id] = reason
                raise kt.errors.FailedTrialError(reason)
        return histories

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        reason = self._failure_reasons.pop(trial.trial_id, "")
        if not reason and trial.message:
            reason = trial.message.strip().splitlines()[-1]
        pruned = trial.trial_id in self._pruned
        self._pruned.discard(trial.trial_id)
        # our record first: a kill between the two retries the trial
        self._observer.trial_ended(trial, reason, pruned=pruned)
        super().on_trial_end(trial)  # saves the oracle: from here on a new process resumes after this trial
        if self._trials_left is not None:
            self._trials_left -= 1
            if self._trials_left <= 0:
                raise ProcessRecycle


class HarnessHyperband(HarnessTuner, kt.Hyperband):
    """Hyperband's `run_trial` (epochs from the schedule) and checkpoint loading, with the harness hooks."""


def _n_trials(cfg: RunConfig) -> int:
    return cfg.budget_epochs // cfg.epochs_per_trial


def _common(cfg: RunConfig, seed: int) -> dict[str, Any]:
    # Failures are recorded and the search goes on; the study judges the result once the budget is spent.
    return dict(objective=OBJECTIVE, seed=seed, epoch_budget=cfg.budget_epochs, seconds_budget=cfg.budget_seconds,
                default_epochs=cfg.epochs_per_trial, max_retries_per_trial=0,
                max_consecutive_failed_trials=10**6)


def random_oracle(cfg: RunConfig, seed: int) -> kt.Oracle:
    return _RandomOracle(max_trials=_n_trials(cfg), **_common(cfg, seed))


def hyperband_oracle(cfg: RunConfig, seed: int) -> kt.Oracle:
    # Enough iterations that the epoch budget, not Hyperband's schedule, ends the search.
    return _HyperbandOracle(max_epochs=cfg.epochs_per_trial, factor=cfg.hyperband_factor,
                            hyperband_iterations=cfg.budget_epochs, **_common(cfg, seed))


def _startup_trials(cfg: RunConfig) -> int:
    # keras-tuner's default of 3 x 4 random points would leave no guided trials in a 10-trial budget; TPE starts
    # after as many random trials as the Bayesian oracle, so the two differ only in the model that follows them.
    return max(3, _n_trials(cfg) // 3)


def bayesian_oracle(cfg: RunConfig, seed: int) -> kt.Oracle:
    return _BayesianOracle(max_trials=_n_trials(cfg), num_initial_points=_startup_trials(cfg), **_common(cfg, seed))


def tpe_oracle(cfg: RunConfig, seed: int) -> kt.Oracle:
    return _BudgetedOptunaOracle(max_trials=_n_trials(cfg), startup_trials=_startup_trials(cfg), **_common(cfg, seed))


def _pruned(cfg: RunConfig, seed: int, *, startup_trials: int, pruner: str) -> kt.Oracle:
    # No trial cap: pruned trials cost less, so the epoch budget alone ends the search (as for Hyperband).
    return _BudgetedOptunaOracle(startup_trials=startup_trials, pruner_epochs=cfg.epochs_per_trial,
                         reduction_factor=cfg.hyperband_factor, pruner=pruner, **_common(cfg, seed))


def tpe_hyperband_oracle(cfg: RunConfig, seed: int) -> kt.Oracle:
    return _pruned(cfg, seed, startup_trials=_startup_trials(cfg), pruner="hyperband")


def asha_oracle(cfg: RunConfig, seed: int) -> kt.Oracle:
    # Every trial is keras-tuner's own random draw (the start-up phase never ends): with paired streams, ASHA tries
    # random search's configurations in random search's order and stops the poor ones early.
    return _pruned(cfg, seed, startup_trials=sys.maxsize, pruner="successive-halving")


def tpe_asha_oracle(cfg: RunConfig, seed: int) -> kt.Oracle:
    return _pruned(cfg, seed, startup_trials=_startup_trials(cfg), pruner="successive-halving")


# Every strategy of the catalog, by the factory it names (all of them defined above).
STRATEGIES: dict[str, Callable[[RunConfig, int], kt.Oracle]] = {
    name: catalog.resolve(entry.factory) for name, entry in catalog.STRATEGIES.items()}
# The tuner that runs a strategy's trials, where the catalog names one; else the harness's.
TUNER_CLASSES: dict[str, type[HarnessTuner]] = {
    name: catalog.resolve(entry.tuner) for name, entry in catalog.STRATEGIES.items() if entry.tuner}


def build_tuner(strategy: str, *, cfg: RunConfig, seed: int, hypermodel: kt.HyperModel, directory: str,
                project_name: str, observer: TrialObserver, trials_per_process: int | None = None) -> HarnessTuner:
    """A tuner whose working state lives in `directory/project_name`, reloaded if it exists (resume)."""
    tuner_class = TUNER_CLASSES.get(strategy, HarnessTuner)
    stream = stream_seed(cfg, strategy, seed)
    oracle = STRATEGIES[strategy](cfg, stream)
    oracle.spent_seconds = observer.spent_seconds
    return tuner_class(oracle=oracle, hypermodel=hypermodel, directory=directory, project_name=project_name,
                       seed=stream, observer=observer, trials_per_process=trials_per_process,
                       reports_epochs=bool(getattr(oracle, "prunes", False)))
