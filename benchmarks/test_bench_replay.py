"""Replay speed on the committed `ann-grid` table at the standard 90-epoch budget: seconds per study for each
strategy, and how much of it is the oracle's own compute (`TrialRecord.oracle_seconds`) rather than table lookups
and bookkeeping (Optuna's TPE beside keras-tuner's three). The target (issue #19): 100 seeds x 3 strategies in at
most 10 minutes on 2 cores. Each study here is one search (`held_out=False`); a stored replay on k training runs
also searches once per held-out run, k + 1 searches in all."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest
import sklearn

from fmnist_bench.config import STRATEGY_NAMES, make_config
from fmnist_bench.tabular.oracle_shortcuts import ORACLE_SKLEARN_CONFIG, oracle_shortcuts
from fmnist_bench.tabular.replay import load_replay_table, replay_study

from conftest import TABLES, alternate_pairs, replayed_bayesian_studies

CFG = make_config("standard", space="ann-grid", replay=True)
SEEDS = range(1, 6)


@pytest.fixture(scope="module")
def table():
    warnings.filterwarnings("ignore", message="The optimal value found for dimension")
    return load_replay_table(CFG, TABLES)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_replay_seconds_per_study(benchmark, table, strategy: str) -> None:
    benchmark.group = "one replayed study (ann-grid, 90 epochs)"
    oracle: list[float] = []

    def replay_seeds() -> None:
        for seed in SEEDS:
            _, trials, _ = replay_study(CFG, strategy, seed, table, held_out=False)
            oracle.append(sum(t.oracle_seconds or 0.0 for t in trials))

    replay_study(CFG, strategy, 99, table, held_out=False)  # imports and first-call set-up out of the measurement
    start = time.perf_counter()
    benchmark.pedantic(replay_seeds, rounds=1, iterations=1)
    per_study = (time.perf_counter() - start) / len(SEEDS)
    benchmark.extra_info.update({"seconds_per_study": per_study, "studies": len(SEEDS),
                                 "oracle_share": sum(oracle) / (per_study * len(SEEDS))})


def test_tpe_and_bayesian_replayed_studies(benchmark, table) -> None:
    """The model-based strategies side by side (issue #26: a replayed TPE study should cost well under a Bayesian
    one): the same two seeds each side, in alternating pairs, in the replay's own process set-up."""
    benchmark.group = "replayed studies, seeds 1-2 (ann-grid, 90 epochs)"

    def studies(strategy: str) -> None:
        with oracle_shortcuts():
            for seed in (1, 2):
                replay_study(CFG, strategy, seed, table, held_out=False)

    alternate_pairs(benchmark, ("tpe", lambda: studies("tpe")), ("bayesian", lambda: studies("bayesian")), pairs=3)


def test_bayesian_oracle_with_and_without_the_replay_shortcuts(benchmark, table) -> None:
    """Most of a replay is BayesianOptimization's own compute; this measures how much of that the replay's shortcuts
    save (`tabular.oracle_shortcuts`: no scikit-learn input validation of the Gaussian process's one-point queries),
    against scikit-learn's global switches alone (what replays skipped before 2026-12-06)."""
    benchmark.group = "bayesian replay, seed 1 (ann-grid, 90 epochs)"

    proposals: dict[str, list] = {"switches only": [], "shortcuts": []}

    def proposed(name: str) -> None:
        _, trials, _ = replay_study(CFG, "bayesian", 1, table, held_out=False)
        proposals[name].append([(t.params, t.score) for t in trials])

    def switches_only() -> None:
        with sklearn.config_context(**ORACLE_SKLEARN_CONFIG):
            proposed("switches only")

    def shortcuts() -> None:
        with oracle_shortcuts():
            proposed("shortcuts")

    alternate_pairs(benchmark, ("switches only", switches_only), ("shortcuts", shortcuts), pairs=3)
    # what makes the shortcuts legitimate in replays: the oracle proposes exactly the same trials
    assert proposals["switches only"][0] == proposals["shortcuts"][0]


def test_replay_processes_with_bounded_and_default_blas_threads(benchmark, tmp_path: Path) -> None:
    """Two replay processes on 2 cores with one BLAS/OpenMP thread each (the harness's default since #30) against
    the libraries' own default of a thread per core in every process (what it did before): the whole command,
    Bayesian studies, whose oracle is numpy and scikit-learn work."""
    import itertools
    import os

    benchmark.group = "run --replay --strategies bayesian --seeds 4 --jobs 2 (ann-grid, 90 epochs)"
    runs = itertools.count()
    studies: dict[str, list] = {"bounded": [], "default": []}

    def replay(name: str, threads: int) -> None:
        studies[name].append(replayed_bayesian_studies(tmp_path / f"{name}{next(runs)}", "--jobs", "2",
                                                       "--threads", str(threads)))

    alternate_pairs(benchmark, ("bounded", lambda: replay("bounded", 1)),
                    ("default", lambda: replay("default", os.cpu_count() or 1)), pairs=3)
    # the thread count changes the speed, never the proposals or the scores
    assert all(run == studies["bounded"][0] for run in studies["bounded"] + studies["default"])
