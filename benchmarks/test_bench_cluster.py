"""A replayed run on a local Dask cluster of two workers against one (`run --replay --scheduler`): the speed-up a
second worker buys on the same work, and that the studies do not depend on how many workers replayed them.

The work is Bayesian studies, the replay's costly strategy (keras-tuner's Gaussian process, one core each); each
run also pays for starting every worker's task process (it imports keras-tuner), as a user's run does."""

from __future__ import annotations

import itertools
from pathlib import Path

from conftest import alternate_pairs, replayed_bayesian_studies


def test_replay_on_two_dask_workers_against_one(benchmark, tmp_path: Path) -> None:
    import distributed

    benchmark.group = "run --replay --strategies bayesian --seeds 4 --scheduler (ann-grid, 90 epochs)"
    runs = itertools.count()
    studies: dict[str, list] = {"two workers": [], "one worker": []}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as two, \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as one:

        def replay(name: str, address: str) -> None:
            studies[name].append(replayed_bayesian_studies(tmp_path / f"run{next(runs)}", "--scheduler", address))

        alternate_pairs(benchmark, ("two workers", lambda: replay("two workers", two.scheduler_address)),
                        ("one worker", lambda: replay("one worker", one.scheduler_address)), pairs=3)
    # the number of workers changes the speed, never the proposals or the scores
    assert all(run == studies["one worker"][0] for run in studies["one worker"] + studies["two workers"])
