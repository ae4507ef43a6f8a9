"""What simulated workers cost (issue #46): a replayed search with 16 simulated workers against the same search with
one, on the committed `ann-grid` table at the standard 90-epoch budget, in alternating pairs.

Random search proposes the same trials whatever the number of workers, so its ratio is the event loop's own cost
(a heap of per-epoch events instead of a straight loop). ASHA adds a pruner's judgement after every epoch; Hyperband
adds rungs that make workers wait. Bayesian optimisation is left out: with 16 workers it proposes its trials before
any result is in (random draws, no Gaussian process), so its ratio would measure the oracle, not the simulation."""

from __future__ import annotations

import pytest

from fmnist_bench.config import make_config
from fmnist_bench.tabular.replay import load_replay_table
from fmnist_bench.tabular.search import search

from conftest import TABLES, alternate_pairs

CFG = make_config("standard", space="ann-grid", replay=True, table_seeds=(5, 6, 7))
SEEDS = range(1, 31)


@pytest.fixture(scope="module")
def table():
    return load_replay_table(CFG, TABLES)


@pytest.mark.parametrize("strategy", ["random", "asha", "hyperband"])
def test_sixteen_simulated_workers_against_one(benchmark, table, strategy: str) -> None:
    benchmark.group = f"replayed {strategy} searches, seeds 1-30 (ann-grid, 90 epochs, table seeds 5-7)"
    trials: dict[int, list] = {1: [], 16: []}

    def searches(workers: int) -> None:
        trials[workers].append([[t.params for t in search(CFG, strategy, seed, table, workers=workers).trials]
                                for seed in SEEDS])

    alternate_pairs(benchmark, ("16 workers", lambda: searches(16)), ("1 worker", lambda: searches(1)), pairs=7)
    if strategy == "random":  # the same trials either way: the ratio is the simulation's own cost
        assert trials[16][0] == trials[1][0]
