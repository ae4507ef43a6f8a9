"""A replayed run on a local Dask cluster of two workers against one (`run --replay --scheduler`): the speed-up a
second worker buys on the same work, and that the studies do not depend on how many workers replayed them.

The work is Bayesian studies, the replay's costly strategy (keras-tuner's Gaussian process, one core each); each
run also pays for starting every worker's task process (it imports keras-tuner), as a user's run does."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
from pathlib import Path

from conftest import alternate_pairs

TABLES = Path(__file__).resolve().parents[1] / "results" / "tables"
SEEDS = 4


def _replay_on(address: str, results_dir: Path) -> list[dict]:
    """The run as a user starts it; its studies minus what measures time."""
    subprocess.run([sys.executable, "-m", "fmnist_bench", "-q", "run", "--space", "ann-grid", "--replay",
                    "--strategies", "bayesian", "--seeds", str(SEEDS), "--scheduler", address,
                    "--results-dir", str(results_dir), "--tables-dir", str(TABLES)],
                   check=True, stdout=subprocess.DEVNULL)
    [archive] = results_dir.glob("runs/*/studies.jsonl.gz")
    studies = [json.loads(line) for line in gzip.open(archive, "rt")]
    return [{"result": {k: v for k, v in s["result"].items() if "seconds" not in k},
             "trials": [{k: v for k, v in t.items() if "seconds" not in k} for t in s["trials"]]} for s in studies]


def test_replay_on_two_dask_workers_against_one(benchmark, tmp_path: Path) -> None:
    import distributed

    benchmark.group = f"run --replay --strategies bayesian --seeds {SEEDS} --scheduler (ann-grid, 90 epochs)"
    runs = itertools.count()
    studies: dict[str, list] = {"two workers": [], "one worker": []}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as two, \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as one:

        def replay(name: str, address: str) -> None:
            studies[name].append(_replay_on(address, tmp_path / f"run{next(runs)}"))

        alternate_pairs(benchmark, ("two workers", lambda: replay("two workers", two.scheduler_address)),
                        ("one worker", lambda: replay("one worker", one.scheduler_address)), pairs=3)
    # the number of workers changes the speed, never the proposals or the scores
    assert all(run == studies["one worker"][0] for run in studies["one worker"] + studies["two workers"])
