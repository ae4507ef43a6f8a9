"""The one list of what the harness can run: every strategy, every built-in search space and every task.

Config checks, the command line's choices and help, the engine's factories and the reports all read these tables,
so a new strategy or space is one entry here (plus the code its factory names). The catalog sits low in the package
and imports no backend: each factory is named by import path (`"fmnist_bench.engine.strategies:random_oracle"`, the
way entry points name theirs) and resolved only inside the processes that train or replay (`resolve`). A user's own
space (`--space FILE.py:NAME`, `fmnist_bench.userspace`) is one more factory of the same kind.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import MappingProxyType
from typing import Any, Mapping

from .errors import ConfigError
from .grids import ANN_GRID

__all__ = ["BASELINE", "SPACES", "STRATEGIES", "TASKS", "SpaceEntry", "StrategyEntry", "TaskEntry",
           "default_strategies", "grid_of", "resolve", "strategies_needing"]


@dataclasses.dataclass(frozen=True)
class StrategyEntry:
    """A search strategy: a keras-tuner oracle built under the harness's budgets.

    Attributes:
        name: what users type (`--strategies random,tpe`).
        factory: import path of `f(cfg: RunConfig, seed: int) -> keras_tuner.Oracle`.
        summary: one line for `--help` and the docs.
        extra: the optional dependency it needs (`pip install 'fmnist-bench[<extra>]'`), or None.
        default: part of the default set (keras-tuner's three; every preset's run id depends on that set).
        tuner: import path of the keras-tuner `Tuner` class that trains its trials, where the harness's own
            (`engine.strategies.HarnessTuner`) does not do: Hyperband trains a promotion from its parent's
            checkpoint for the epochs its schedule gives.
        cheap_replay: a replayed search costs well under a second, so the table-noise bootstrap (10,000 searches
            for 100 resamples of 100 seeds) replays it by default: random search, Hyperband, ASHA and Optuna's TPE
            variants (0.04-0.55 s per search at 90 and 270 epochs on ann-grid, measured 2026-12-06 on 2 loaded
            cores); keras-tuner's Bayesian optimisation fits a Gaussian process per trial (4-12 s per search with
            the replay's `tabular.oracle_shortcuts`, 10-30 s before them), about 10-30 hours on one core for one such
            interval, so it is resampled only when asked for.
    """

    name: str
    factory: str
    summary: str
    extra: str | None = None
    default: bool = False
    tuner: str | None = None
    cheap_replay: bool = False


@dataclasses.dataclass(frozen=True)
class TaskEntry:
    """A dataset with what is known about it: where its data comes from and the reference score users compare to.

    Attributes:
        name: the task's name in records and reports.
        summary: one line for the docs.
        target_accuracy: the validation accuracy whose first crossing the reports time (Fashion-MNIST: the original
            notebook's 88.2% test accuracy); None where the task has no reference.
    """

    name: str
    summary: str
    target_accuracy: float | None = None


@dataclasses.dataclass(frozen=True)
class SpaceEntry:
    """A built-in search space.

    Attributes:
        name: what users type (`--space ann-grid`).
        factory: import path of a `keras_tuner.HyperModel` class (or a `build_model(hp)` function).
        summary: one line for `--help` and the docs.
        revision: bumped whenever the space's ranges change, so runs of the old and new space never share a run id,
            a leaderboard label or a table (revision 1 is left out of run ids made before revisions existed).
        task: the task (dataset) the space is built for.
        grid: the values of a grid space (every hyperparameter discrete), which can be tabulated and replayed.
        presets: per preset, the settings that differ from the preset's defaults (a CNN epoch costs 10-40x an MLP's).
    """

    name: str
    factory: str
    summary: str
    revision: int = 1
    task: str = "fashion-mnist"
    grid: Mapping[str, tuple[Any, ...]] | None = None
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


def _strategies(*entries: StrategyEntry) -> Mapping[str, StrategyEntry]:
    return MappingProxyType({entry.name: entry for entry in entries})


_ENGINE = "fmnist_bench.engine.strategies"
STRATEGIES: Mapping[str, StrategyEntry] = _strategies(
    StrategyEntry("random", f"{_ENGINE}:random_oracle", "keras-tuner's RandomSearch", default=True,
                  cheap_replay=True),
    StrategyEntry("hyperband", f"{_ENGINE}:hyperband_oracle", "keras-tuner's Hyperband", default=True,
                  tuner=f"{_ENGINE}:HarnessHyperband", cheap_replay=True),
    StrategyEntry("bayesian", f"{_ENGINE}:bayesian_oracle", "keras-tuner's BayesianOptimization (Gaussian process)",
                  default=True),
    StrategyEntry("tpe", f"{_ENGINE}:tpe_oracle", "Optuna's TPE sampler", extra="optuna", cheap_replay=True),
    StrategyEntry("tpe-hyperband", f"{_ENGINE}:tpe_hyperband_oracle", "Optuna's TPE with its Hyperband pruner",
                  extra="optuna", cheap_replay=True),
    StrategyEntry("asha", f"{_ENGINE}:asha_oracle", "random search stopped early by asynchronous successive halving "
                  "(ASHA: Optuna's SuccessiveHalvingPruner)", extra="optuna", cheap_replay=True),
    StrategyEntry("tpe-asha", f"{_ENGINE}:tpe_asha_oracle", "Optuna's TPE with asynchronous successive halving",
                  extra="optuna", cheap_replay=True),
)
# What every other strategy is compared with: the default that a user would otherwise keep.
BASELINE = "random"

TASKS: Mapping[str, TaskEntry] = MappingProxyType({
    "fashion-mnist": TaskEntry("fashion-mnist", "Fashion-MNIST: 28x28 greyscale clothing images, 10 classes, "
                               "60k training and 10k test images (Debian's dataset-fashion-mnist)",
                               target_accuracy=0.882),
})

# A CNN epoch costs 10-40x an MLP epoch on CPU, so the `cnn` space gets smaller budgets under the same preset names
# (`full` stays `standard` x 5 seeds).
_CNN_STANDARD: Mapping[str, Any] = MappingProxyType({"epochs_per_trial": 5, "budget_epochs": 30, "final_epochs": 30,
                                                     "patience": 5, "final_lr_decay": 0.2})
_SPACES_MODULE = "fmnist_bench.engine.spaces"
SPACES: Mapping[str, SpaceEntry] = MappingProxyType({entry.name: entry for entry in (
    # ann r2: neurons up to 1024 (r1 stopped at 512, whose best models plateaued at 88.0-88.2% test accuracy)
    SpaceEntry("ann", f"{_SPACES_MODULE}:AnnSpace", "the notebook's dense network: layers, neurons, activation, "
               "learning rate", revision=2),
    SpaceEntry("cnn", f"{_SPACES_MODULE}:CnnSpace", "a convolutional network with augmentation as hyperparameters",
               presets={"quick": {"epochs_per_trial": 2, "budget_epochs": 8, "final_epochs": 5},
                        "standard": _CNN_STANDARD, "full": _CNN_STANDARD}),
    SpaceEntry("ann-grid", f"{_SPACES_MODULE}:AnnGridSpace", "the ann space on a 324-configuration grid, with a "
               "tabular benchmark", grid=ANN_GRID),
)})


def default_strategies() -> tuple[str, ...]:
    return tuple(name for name, entry in STRATEGIES.items() if entry.default)


def strategies_needing(extra: str) -> tuple[str, ...]:
    return tuple(name for name, entry in STRATEGIES.items() if entry.extra == extra)


def grid_of(space: str) -> Mapping[str, tuple[Any, ...]] | None:
    """A built-in space's grid values, None for a space that is not a grid (or not built in)."""
    entry = SPACES.get(space)
    return entry.grid if entry is not None else None


def resolve(path: str) -> Any:
    """The object an import path `package.module:name` names (importing its module: call it only where a backend
    may be loaded).

    Raises:
        ConfigError: the module or the name does not exist.
    """
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name} for {path} ({exc})") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"{module_name} has no {attribute!r} (named by {path})") from None
