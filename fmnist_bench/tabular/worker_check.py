"""The check of simulated workers against keras-tuner's own (docs/parallel.md, "The live check"): a live run with
`--workers N` beside the replay of the same config with N simulated workers, by the rules its protocol fixed.

Three comparisons, each a markdown table: the mechanics (trials and epochs per study, live and simulated on the same
seeds), how often a study's proposals depend on the order in which its workers finish (simulated: the same study
with every trial's seconds jittered; live: whether some trial finished before one started earlier), and each
strategy's test accuracy minus random search's.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tabulate import tabulate

from ..catalog import BASELINE
from ..errors import ConfigError, one_line_errors
from ..stats import min_detectable_difference, t_interval, wilson_interval
from ..processes import log_to_stderr
from ..store import StoredRun, StoredStudy, load_run

__all__ = ["finish_inversion", "main", "mechanics_rows", "order_rows", "verdict_rows"]

log = logging.getLogger(__name__)


def _by_cell(run: StoredRun) -> dict[tuple[str, int], StoredStudy]:
    return {(st.result.strategy, st.result.seed): st for st in run.studies}


def _interval(values: Sequence[float], scale: float = 1.0) -> str:
    low, high = t_interval(values)
    mean = float(np.mean(values)) if len(values) else math.nan
    return f"{scale * mean:+.2f} [{scale * low:+.2f}, {scale * high:+.2f}]"


def mechanics_rows(live: StoredRun, simulated: StoredRun) -> list[list[Any]]:
    """Per strategy, on the seeds both runs hold: trials and epochs trained per study, live and simulated, and the
    paired difference of each with its 95% t-interval."""
    live_cells, sim_cells = _by_cell(live), _by_cell(simulated)
    rows = []
    for strategy in live.config.strategies:
        seeds = [s for s in live.config.seeds if (strategy, s) in live_cells and (strategy, s) in sim_cells]
        pairs = [(live_cells[strategy, s].result, sim_cells[strategy, s].result) for s in seeds]
        trials = [a.trials - b.trials for a, b in pairs]
        epochs = [a.epochs_trained - b.epochs_trained for a, b in pairs]
        rows.append([strategy, len(seeds),
                     f"{np.mean([a.trials for a, _ in pairs]):.1f} / {np.mean([b.trials for _, b in pairs]):.1f}",
                     _interval(trials),
                     f"{np.mean([a.epochs_trained for a, _ in pairs]):.1f} / "
                     f"{np.mean([b.epochs_trained for _, b in pairs]):.1f}", _interval(epochs)])
    return rows


def finish_inversion(study: StoredStudy) -> bool:
    """Whether some trial of a live study finished before a trial created earlier than it: the precondition for a
    strategy's next proposal to depend on the order in which workers finish."""
    ended = [t.ended for t in sorted(study.trials, key=lambda t: t.number) if t.ended is not None]
    return any(later < max(ended[:index]) for index, later in enumerate(ended) if index)


def order_rows(live: StoredRun, simulated: StoredRun, tables_dir: Path, jitter: float) -> list[list[Any]]:
    """Per strategy: the share of simulated studies whose trials (configurations in creation order) change when
    every trial's recorded seconds are scaled by a factor in [1 - jitter, 1 + jitter], with its Wilson interval;
    and the share of live studies with a finish inversion.

    Raises:
        TableError: the simulated run's table is missing or another.
        ConfigError: a stored simulated study that the same search does not reproduce without jitter (then the
            comparison would measure something else).
    """
    from .replay import init_replayer, load_replay_table
    from .search import search

    cfg = simulated.config
    table = load_replay_table(cfg, tables_dir)
    init_replayer(table)
    rows = []
    start = time.perf_counter()
    for strategy in cfg.strategies:
        changed = 0
        studies = [st for st in simulated.studies if st.result.strategy == strategy]
        for st in studies:
            stored = [t.params for t in st.trials]
            if st is studies[0] and [t.params for t in search(cfg, strategy, st.result.seed, table,
                                                                workers=cfg.workers).trials] != stored:
                raise ConfigError(f"the stored study {strategy} seed {st.result.seed} of {simulated.root} is not "
                                  "what its search gives here; replay it again before comparing")
            found = search(cfg, strategy, st.result.seed, table, workers=cfg.workers, jitter=jitter)
            changed += [t.params for t in found.trials] != stored
        low, high = wilson_interval(changed, len(studies))
        # Bayesian optimisation's searches take seconds each: say how far the 500 or so have got
        log.info("order dependence: %s done (%d studies searched again), %.0f s elapsed", strategy, len(studies),
                 time.perf_counter() - start)
        live_studies = [st for st in live.studies if st.result.strategy == strategy]
        inverted = sum(finish_inversion(st) for st in live_studies)
        rows.append([strategy, f"{changed}/{len(studies)} ({changed / max(len(studies), 1):.0%}, "
                               f"[{low:.0%}, {high:.0%}])",
                     f"{inverted}/{len(live_studies)}"])
    return rows


def verdict_rows(live: StoredRun, simulated: StoredRun) -> list[list[Any]]:
    """Per strategy: test accuracy minus random search's, paired by seed, live (95% t-interval, and the smallest
    difference its seeds detect) and simulated; whether the simulated estimate lies inside the live interval."""
    from ..stats import ALPHA

    live_cells, sim_cells = _by_cell(live), _by_cell(simulated)
    rows = []
    for strategy in live.config.strategies:
        if strategy == BASELINE:
            continue
        diffs = {}
        for name, cells, seeds in (("live", live_cells, live.config.seeds),
                                   ("simulated", sim_cells, simulated.config.seeds)):
            diffs[name] = [cells[strategy, s].result.mean_test_accuracy - cells[BASELINE, s].result.mean_test_accuracy
                           for s in seeds if (strategy, s) in cells and (BASELINE, s) in cells]
        low, high = t_interval(diffs["live"])
        estimate = float(np.mean(diffs["simulated"]))
        detect = min_detectable_difference(float(np.std(diffs["live"], ddof=1)), len(diffs["live"]), alpha=ALPHA)
        rows.append([strategy, f"{_interval(diffs['live'], 100)} ({len(diffs['live'])} seeds detect "
                               f"{100 * detect:.2f})",
                     f"{_interval(diffs['simulated'], 100)} ({len(diffs['simulated'])} seeds)",
                     "yes" if low <= estimate <= high else "**no**"])
    return rows


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """`python -m fmnist_bench.tabular.worker_check LIVE_RUN SIMULATED_RUN`: the three tables of the live check."""
    parser = argparse.ArgumentParser(prog="python -m fmnist_bench.tabular.worker_check", description=main.__doc__)
    parser.add_argument("live", type=Path, help="the live run's folder (results/runs/...)")
    parser.add_argument("simulated", type=Path, help="the simulated replay's folder")
    parser.add_argument("--tables-dir", type=Path, default=Path("results/tables"))
    parser.add_argument("--jitter", type=float, default=0.1)
    args = parser.parse_args(argv)
    log_to_stderr(logging.INFO)
    live, simulated = load_run(args.live), load_run(args.simulated)
    print(f"Mechanics ({live.root.name} live, {simulated.root.name} simulated; paired by seed, 95% t-intervals):\n")
    print(tabulate(mechanics_rows(live, simulated), ["strategy", "seeds", "trials per study, live / simulated",
                                                     "live minus simulated", "epochs per study, live / simulated",
                                                     "live minus simulated"], tablefmt="github"))
    print(f"\nOrder dependence (simulated: trial seconds scaled by [{1 - args.jitter:.2f}, {1 + args.jitter:.2f}]; "
          "Wilson 95% intervals):\n")
    print(tabulate(order_rows(live, simulated, args.tables_dir, args.jitter),
                   ["strategy", "simulated studies whose trials change", "live studies with a finish inversion"],
                   tablefmt="github"))
    print("\nTest accuracy minus random search's, pp (paired by seed, 95% t-intervals):\n")
    print(tabulate(verdict_rows(live, simulated),
                   ["strategy", "live", "simulated", "simulated estimate inside the live interval?"],
                   tablefmt="github"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
