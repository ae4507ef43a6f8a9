"""Optuna's TPE (optionally with its Hyperband or successive-halving pruner) behind keras-tuner's `Oracle` interface.

Why an Oracle and not an Optuna objective: everything the harness does to a keras-tuner strategy (the epoch and time
budgets, per-trial seeding, resume from keras-tuner's state files, the chief/worker servers of `--workers`, the
replay that answers an oracle from the table) works through an Oracle. Wrapping Optuna in one makes TPE a fifth
oracle with the same records and accounting instead of a second harness with its own.

How it stays exact:
- The oracle keeps one in-memory Optuna study; its trials (parameters, values, per-epoch reports and the pruner's
  rung marks) are written into keras-tuner's oracle state at every save and rebuilt on reload, so a resumed study
  asks TPE with the history an uninterrupted one had. A trial that was running when the process died is retried
  from its first epoch, so its reports are cleared.
- TPE's random generator is not in any state file: a sampler is seeded per trial from (oracle seed, trial count).
- The first trials (TPE's start-up phase, as many as keras-tuner's BayesianOptimization starts with) take keras-tuner's
  own random draws: with paired streams a study opens with the configurations random search, Hyperband and Bayesian
  open with, which is what makes the comparison paired.

Pruning: the tuner (live) or the replay reports every epoch's validation accuracy (`EPOCH_REPORT` in the metrics
marks such a report; it is not the trial's result), the oracle passes it to the trial and answers with a STOPPED
trial when Optuna's pruner says stop. A pruned trial is told to Optuna as PRUNED, costs the budget the epochs it
trained, and its keras-tuner score is its best epoch so far, as for any trial.
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any

import keras_tuner as kt

from ..engine import ktbridge

__all__ = ["EPOCH_REPORT", "OptunaOracle", "proposal_seed", "search_space"]

EPOCH_REPORT = "fmnist_bench/epoch_report"  # a metrics key: this update is one epoch's intermediate report
_STUDY_NAME = "fmnist-bench"  # Optuna's Hyperband pruner assigns brackets from the study name and trial number
_RUNG_PREFIX = "completed_rung_"  # the successive-halving pruner's marks on a trial (optuna.pruners)


def proposal_seed(seed: int, index: int) -> int:
    """The seed of an oracle's own draws for its `index`-th proposal (TPE's sampler here, the Bayesian optimiser's
    RandomState in `strategies`): derived from the study's seed and the proposal's index, never carried in memory, so
    a resumed or recycled search proposes what an uninterrupted one would."""
    return (seed * 100_003 + index) % (2**32)


@functools.lru_cache(maxsize=1)
def _optuna() -> Any:
    """Optuna, or the one-line ConfigError naming the extra (a child process's strategy may be the first to ask)."""
    from ..config import OPTUNA_STRATEGIES, require_optuna

    require_optuna(OPTUNA_STRATEGIES)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per told trial otherwise
    return optuna


def search_space(hyperparameters: kt.HyperParameters) -> dict[str, tuple[Any, Any]]:
    """Each keras-tuner hyperparameter as (its keras-tuner object, an Optuna distribution), in declaration order.

    An ordered numeric `Choice` (keras-tuner's default for numbers) becomes an integer index, so TPE sees the order
    as keras-tuner's Bayesian oracle does; other choices and booleans are categorical.

    Raises:
        ConfigError: a hyperparameter Optuna cannot express (a stepped log range, reverse-log sampling).
    """
    from ..errors import ConfigError

    dist = _optuna().distributions
    space: dict[str, tuple[Any, Any]] = {}
    for hp in hyperparameters.space:
        kind = type(hp).__name__
        if kind == "Fixed":
            continue
        sampling = getattr(hp, "sampling", "linear")
        if sampling not in ("linear", "log") or (sampling == "log" and (hp.step or 1) != 1 and kind == "Int") \
                or (sampling == "log" and kind == "Float" and hp.step):
            raise ConfigError(f"hyperparameter {hp.name!r} ({kind}, sampling {sampling}, step {hp.step}) has no "
                              "Optuna distribution; TPE takes linear or log ranges (log without a step)")
        if kind == "Boolean":
            space[hp.name] = (hp, dist.CategoricalDistribution([False, True]))
        elif kind == "Choice":
            values = list(hp.values)
            space[hp.name] = (hp, dist.IntDistribution(0, len(values) - 1) if hp.ordered
                              else dist.CategoricalDistribution(values))
        elif kind == "Int":
            space[hp.name] = (hp, dist.IntDistribution(hp.min_value, hp.max_value, step=hp.step or 1,
                                                       log=sampling == "log"))
        elif kind == "Float":
            space[hp.name] = (hp, dist.FloatDistribution(hp.min_value, hp.max_value, step=hp.step,
                                                         log=sampling == "log"))
        else:
            raise ConfigError(f"hyperparameter {hp.name!r} is a {kind}, which fmnist-bench's TPE does not map")
    return space


def _to_keras(hp: Any, value: Any) -> Any:
    return list(hp.values)[value] if type(hp).__name__ == "Choice" and hp.ordered else value


def _to_optuna(hp: Any, value: Any) -> Any:
    return list(hp.values).index(value) if type(hp).__name__ == "Choice" and hp.ordered else value


class OptunaOracle(kt.Oracle):
    """keras-tuner's Oracle whose proposals come from an Optuna study (TPE, optionally pruned by Hyperband).

    Args:
        startup_trials: trials drawn at random (keras-tuner's draws) before TPE models the results.
        pruner_epochs: the longest a trial trains (Optuna Hyperband's `max_resource`); None: no pruning.
        reduction_factor: the pruner's reduction factor.
        pruner: "hyperband" (Optuna's `HyperbandPruner`) or "successive-halving" (its `SuccessiveHalvingPruner`:
            asynchronous successive halving: each trial judged against the trials that reached its rung so far, so a
            worker never waits for a rung to fill).
    """

    def __init__(self, *, startup_trials: int, pruner_epochs: int | None = None, reduction_factor: int = 3,
                 pruner: str = "hyperband", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.startup_trials = startup_trials
        self.pruner_epochs = pruner_epochs
        self.reduction_factor = reduction_factor
        self.pruner = pruner
        self._lock = threading.RLock()  # a chief's gRPC threads call in concurrently; the study is not thread-safe
        self._numbers: dict[str, int] = {}  # keras-tuner trial id -> Optuna trial number
        self._pruned: dict[str, int] = {}  # keras-tuner trial id -> epochs it trained before the pruner stopped it
        self._study = self._new_study()

    @property
    def prunes(self) -> bool:
        """Whether trials report every epoch (the pruner needs them)."""
        return self.pruner_epochs is not None

    def pruned_epochs(self, trial_id: str) -> int | None:
        """The epochs a pruned trial trained; None for a trial the pruner did not stop."""
        return self._pruned.get(trial_id)

    def _new_study(self) -> Any:
        optuna = _optuna()
        if not self.prunes:
            pruner = optuna.pruners.NopPruner()
        elif self.pruner == "successive-halving":  # rungs at 1, 3, 9 ... epochs
            pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=self.reduction_factor,
                                                            min_early_stopping_rate=0)
        else:
            pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=self.pruner_epochs,
                                                    reduction_factor=self.reduction_factor)
        return optuna.create_study(direction="maximize", study_name=_STUDY_NAME, pruner=pruner,
                                   sampler=self._sampler(0))

    def _sampler(self, index: int) -> Any:
        """TPE as Optuna recommends it for a small mixed space: multivariate (one joint density instead of one per
        parameter), constant liar (parallel workers do not all propose the same point), seeded per trial."""
        optuna = _optuna()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(n_startup_trials=self.startup_trials, multivariate=True,
                                              constant_liar=True,
                                              seed=proposal_seed(int(self.seed or 0), index))

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        space = search_space(self.hyperparameters)
        with self._lock:
            if len(self.trials) < self.startup_trials:
                drawn = ktbridge.random_values(self)
                if drawn is None:
                    return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}
                self._study.enqueue_trial({name: _to_optuna(hp, drawn[name]) for name, (hp, _) in space.items()
                                           if name in drawn})
            self._study.sampler = self._sampler(len(self.trials))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", _optuna().exceptions.ExperimentalWarning)
                trial = self._study.ask()
                values = {name: _to_keras(hp, _suggest(trial, name, distribution))
                          for name, (hp, distribution) in space.items()}
            self._numbers[trial_id] = trial.number
        return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}

    def update_trial(self, trial_id: str, metrics: dict[str, float], step: int = 0) -> Any:
        """The trial's result (as for any oracle), or with `EPOCH_REPORT` one epoch's report: answered with a
        STOPPED trial when the pruner stops it."""
        if EPOCH_REPORT not in metrics:
            return super().update_trial(trial_id, metrics, step=step)
        running = kt.engine.trial.Trial(self.get_space(), trial_id=trial_id,
                                        status=kt.engine.trial.TrialStatus.RUNNING)
        if not self.prunes:
            return running
        optuna = _optuna()
        epoch = int(step) + 1
        with self._lock:
            handle = optuna.trial.Trial(self._study, self._storage_id(trial_id))
            handle.report(float(metrics[self.objective.name]), epoch)
            if not handle.should_prune():
                return running
            self._pruned[trial_id] = epoch
        running.status = kt.engine.trial.TrialStatus.STOPPED
        return running

    def end_trial(self, trial: kt.engine.trial.Trial) -> None:
        # Told to Optuna before keras-tuner's end_trial saves the state, so the saved study holds the result.
        optuna = _optuna()
        state = optuna.trial.TrialState
        with self._lock:
            number = self._numbers[trial.trial_id]
            metrics = self.trials[trial.trial_id].metrics
            value = (metrics.get_best_value(self.objective.name) if metrics.exists(self.objective.name) else None)
            if trial.status == kt.engine.trial.TrialStatus.COMPLETED and value is not None and value == value:
                if trial.trial_id in self._pruned:
                    self._study.tell(number, state=state.PRUNED)
                else:
                    self._study.tell(number, float(value))
            else:
                self._study.tell(number, state=state.FAIL)
        super().end_trial(trial)

    def _storage_id(self, trial_id: str) -> int:
        return int(self._study.get_trials(deepcopy=False)[self._numbers[trial_id]]._trial_id)

    def get_state(self) -> dict[str, Any]:
        with self._lock:
            trials = [_trial_to_json(t) for t in self._study.get_trials(deepcopy=False)]
            return super().get_state() | {"optuna": {"numbers": self._numbers, "pruned": self._pruned,
                                                     "trials": trials}}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        saved = state.get("optuna", {"numbers": {}, "pruned": {}, "trials": []})
        with self._lock:
            self._numbers = dict(saved["numbers"])
            self._pruned = dict(saved["pruned"])
            self._study = self._new_study()
            for document in saved["trials"]:
                self._study.add_trial(_trial_from_json(document))


def _suggest(trial: Any, name: str, distribution: Any) -> Any:
    kind = type(distribution).__name__
    if kind == "IntDistribution":
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step,
                                 log=distribution.log)
    if kind == "FloatDistribution":
        return trial.suggest_float(name, distribution.low, distribution.high, step=distribution.step,
                                   log=distribution.log)
    return trial.suggest_categorical(name, distribution.choices)


def _trial_to_json(trial: Any) -> dict[str, Any]:
    from optuna.distributions import distribution_to_json

    return {"state": trial.state.name, "value": trial.value, "params": trial.params,
            "distributions": {k: distribution_to_json(d) for k, d in trial.distributions.items()},
            "intermediate_values": {str(k): v for k, v in trial.intermediate_values.items()},
            "system_attrs": trial.system_attrs}


def _trial_from_json(document: dict[str, Any]) -> Any:
    """A saved trial for `Study.add_trial`; a RUNNING one restarts from its first epoch, so it keeps no reports."""
    optuna = _optuna()
    state = optuna.trial.TrialState[document["state"]]
    running = state == optuna.trial.TrialState.RUNNING
    return optuna.trial.create_trial(
        state=state, value=document["value"], params=document["params"],
        distributions={k: optuna.distributions.json_to_distribution(d)
                       for k, d in document["distributions"].items()},
        intermediate_values={} if running else {int(k): v for k, v in document["intermediate_values"].items()},
        system_attrs={k: v for k, v in document["system_attrs"].items()
                      if not (running and k.startswith(_RUNG_PREFIX))})
