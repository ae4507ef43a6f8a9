"""Where the replay seed-count rule comes from (`verdict.MIN_REPLAY_SEEDS`): how often a Holm-significant claim made
on a block of fewer replay seeds is not upheld by the same replay's 100 seeds.

Each stored 100-seed serial replay is cut into disjoint blocks of b seeds; every pair of its strategies is tested on
each block as the verdict tests it (paired t, Holm over the run's pairs), and a block's claim counts as rejected when
the 100-seed test of that pair is not significant or has the other sign. A block shares its seeds with the 100, so
these rates understate how often a claim on b seeds fails on fresh ones; nothing here says 100 is enough against
200 (no 200-seed replay is stored).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tabulate import tabulate

from ..config import DEFAULT_REPLAY_SEEDS
from ..errors import ResultsError, one_line_errors
from ..stats import paired_tests
from ..store import StoredRun, load_run

__all__ = ["block_claims", "main"]


def block_claims(runs: list[StoredRun], block: int) -> tuple[int, int]:
    """(claims made on blocks of `block` seeds, those the run's 100 seeds reject) over `runs`."""
    claims = rejected = 0
    for run in runs:
        accuracy = {(st.result.strategy, st.result.seed): st.result.test.accuracy for st in run.studies}
        names = [name for name in run.config.strategies if any(name == cell[0] for cell in accuracy)]
        seeds = sorted(run.config.seeds)
        scores = np.array([[accuracy[name, seed] for name in names] for seed in seeds])  # (seeds, strategies)
        full = {(t.a, t.b): t for t in paired_tests(names, scores)}
        for start in range(0, len(seeds) - block + 1, block):
            for test in paired_tests(names, scores[start:start + block]):
                if test.significant:
                    claims += 1
                    whole = full[test.a, test.b]
                    rejected += not (whole.significant and np.sign(whole.mean_diff) == np.sign(test.mean_diff))
    return claims, rejected


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """`python -m fmnist_bench.reports.seed_blocks results/runs`: the table behind the replay seed-count rule."""
    parser = argparse.ArgumentParser(prog="python -m fmnist_bench.reports.seed_blocks", description=main.__doc__)
    parser.add_argument("runs", type=Path, help="a folder of run folders (results/runs)")
    args = parser.parse_args(argv)
    runs = []
    for folder in sorted(args.runs.glob("*replay*")):
        try:
            run = load_run(folder)
        except ResultsError:
            continue
        complete = {st.result.seed for st in run.studies} == set(range(1, DEFAULT_REPLAY_SEEDS + 1))
        if complete and run.config.workers == 1 and len(run.config.strategies) > 1:
            runs.append(run)
    rows = []
    for block in (10, 20, 25, 50):
        claims, rejected = block_claims(runs, block)
        rows.append([block, claims, f"{rejected} ({rejected / max(claims, 1):.0%})"])
    print(f"{len(runs)} serial replays of {DEFAULT_REPLAY_SEEDS} seeds under {args.runs}:\n")
    print(tabulate(rows, ["replay seeds per block", "Holm-significant claims on blocks",
                          f"not upheld by the run's {DEFAULT_REPLAY_SEEDS} seeds"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
