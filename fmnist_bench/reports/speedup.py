"""What more workers buy each strategy (docs/parallel.md): replays of one config with 1, 4, 16, ... simulated workers,
side by side.

Per strategy and number of workers: the simulated wall-clock seconds of the search (the median over seeds), the
speed-up over one worker (the median over seeds of the per-seed ratio, with its interquartile range), the mean test
accuracy and its difference to the same strategy with one worker (paired by seed, 95% t-interval), and the time
until the search's best validation accuracy first reached the task's target.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from ..catalog import BASELINE
from ..errors import ResultsError, one_line_errors
from ..stats import anytime_curve, first_reach, t_interval
from ..store import StoredRun, StoredStudy, load_run

__all__ = ["main", "speedup_rows"]


def speedup_rows(runs: list[StoredRun]) -> list[list[Any]]:
    """One row per (strategy, workers), the runs ordered by their number of workers. A strategy's baseline is the
    one-worker run that holds it: several one-worker runs may split the strategies between them (a time budget's
    replay of keras-tuner's strategies is one run, and of the others another).

    Raises:
        ResultsError: the runs differ in more than their workers and strategies, or a strategy of a run with
            workers has no one-worker replay among the runs.
    """
    runs = sorted(runs, key=lambda r: r.config.workers)
    if runs[0].config.workers != 1:
        raise ResultsError("the speed-up needs a replay with one worker among the runs")
    common = runs[0].config.replace(workers=1, strategies=(BASELINE,))
    for run in runs[1:]:
        if run.config.replace(workers=1, strategies=(BASELINE,)) != common:
            raise ResultsError(f"{run.root.name} differs from {runs[0].root.name} in more than its workers and "
                               "strategies")
    cells = [{(st.result.strategy, st.result.seed): st for st in run.studies} for run in runs]
    bases: dict[str, dict[tuple[str, int], StoredStudy]] = {}
    for run, mine in zip(runs, cells, strict=True):
        for strategy in run.config.strategies:
            if run.config.workers == 1:
                bases.setdefault(strategy, mine)
            elif strategy not in bases:
                raise ResultsError(f"{strategy} of {run.root.name} has no one-worker replay among the runs")
    target = common.target_accuracy
    rows = []
    for strategy, base in bases.items():
        for run, mine in zip(runs, cells, strict=True):
            if strategy not in run.config.strategies or (run.config.workers == 1 and mine is not base):
                continue
            seeds = [s for s in common.seeds if (strategy, s) in mine and (strategy, s) in base]
            seconds = np.array([mine[strategy, s].result.search_seconds for s in seeds])
            serial = np.array([base[strategy, s].result.search_seconds for s in seeds])
            accuracy = np.array([mine[strategy, s].result.mean_test_accuracy for s in seeds])
            gain = accuracy - np.array([base[strategy, s].result.mean_test_accuracy for s in seeds])
            ratios = serial / seconds
            reached = [first_reach(anytime_curve(mine[strategy, s].epochs, mine[strategy, s].trials), target)
                       for s in seeds]
            hit = [r[1] for r in reached if r is not None]
            low, high = t_interval(gain)
            rows.append([strategy, run.config.workers, len(seeds), f"{np.median(seconds):.0f}",
                         f"{np.median(ratios):.2f} ({np.percentile(ratios, 25):.2f}-{np.percentile(ratios, 75):.2f})",
                         f"{100 * accuracy.mean():.2f}%",
                         "-" if mine is base else f"{100 * gain.mean():+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]",
                         f"{len(hit)}/{len(seeds)}, median {np.median(hit):.0f} s" if hit else f"0/{len(seeds)}"])
    return rows


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """`python -m fmnist_bench.reports.speedup RUN...`: the table of one config replayed with several numbers of
    simulated workers."""
    parser = argparse.ArgumentParser(prog="python -m fmnist_bench.reports.speedup", description=main.__doc__)
    parser.add_argument("runs", type=Path, nargs="+", help="the run folders (with one worker: one or more, between "
                                                          "them holding every strategy of the others)")
    args = parser.parse_args(argv)
    runs = [load_run(folder) for folder in args.runs]
    target = runs[0].config.target_accuracy
    print(tabulate(speedup_rows(runs), ["strategy", "workers", "seeds", "search s (median, simulated)",
                                        "speed-up over 1 worker: median (IQR)", "mean test acc",
                                        "minus 1 worker, pp [95% t]",
                                        f"reached {100 * target:.1f}% val" if target else "reached target"],
                   tablefmt="github"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
