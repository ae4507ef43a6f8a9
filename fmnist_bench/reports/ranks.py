"""The field's views of a comparison over many seeds: average rank over the budget, and a critical-difference
diagram.

Anytime ranks: on each seed, the strategies ranked by their incumbent's validation accuracy after every epoch of the
budget (1 = best, ties share the mean rank, a strategy with no finished epoch yet ranks last), then averaged over
seeds with a 95% t-interval. The critical-difference diagram (Demšar 2006) ranks the strategies' final test
accuracy on each seed, tests the mean ranks with Friedman's test and every pair with Nemenyi's post-hoc test; a bar
joins strategies it cannot tell apart at 0.05. It is drawn by scikit-posthocs (the `ranks` extra): a maintained
library that computes the post-hoc tests itself and draws the diagram from their p-values, where autorank would
pick the test after its own normality checks. Ranks say who is ahead how often, not by how much: the paired
differences in the summary say that.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from typing import Any

import numpy as np

from ..stats import anytime_curve, band, curve_on_grid
from ..store import StoredRun
from .figures import figure_bytes

__all__ = ["MIN_SEEDS", "anytime_ranks", "ranks_section", "render_critical_difference_png", "render_ranks_png",
           "shows_ranks"]

MIN_SEEDS = 5  # below this, a Friedman test over seeds says little and the figures would mislead


def shows_ranks(run: StoredRun) -> bool:
    return len(run.strategies) >= 2 and len(run.seeds) >= MIN_SEEDS


def anytime_ranks(run: StoredRun) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(strategies, epoch grid 1..budget, ranks of shape (seeds, strategies, epochs)) over the seeds every
    strategy has."""
    from scipy.stats import rankdata

    names = run.strategies
    grid = np.arange(1, int(run.config.budget_epochs) + 1)
    by_cell = {(st.result.strategy, st.result.seed): st for st in run.studies}
    seeds = [s for s in run.seeds if all((n, s) in by_cell for n in names)]
    values = np.array([[curve_on_grid(anytime_curve(by_cell[n, s].epochs, by_cell[n, s].trials), grid, by="epochs")
                        for n in names] for s in seeds])  # (seeds, strategies, epochs)
    values = np.where(np.isfinite(values), values, -np.inf)  # no incumbent yet: last
    return names, grid, rankdata(-values, axis=1)


def render_ranks_png(run: StoredRun) -> bytes:
    """Mean anytime rank vs epochs spent per strategy, with a 95% t-interval band over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, grid, ranks = anytime_ranks(run)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for k, (name, style) in enumerate(zip(names, itertools.cycle(("-", "--", ":", "-.")), strict=False)):
        mean, low, high = band(ranks[:, k, :])
        line, = ax.plot(grid, mean, label=name, drawstyle="steps-post", linestyle=style)
        ax.fill_between(grid, low, high, step="post", alpha=0.2, color=line.get_color())
    ax.set_xlabel("training epochs spent" + (" (simulated: the table's epochs)" if run.config.replay else ""))
    ax.set_ylabel("mean rank of the incumbent's validation accuracy (1 = best)")
    ax.set_ylim(len(names) + 0.2, 0.8)
    ax.set_title(f"Anytime ranks ({run.space_label}, {ranks.shape[0]} seeds, mean and 95% t-interval)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    data = figure_bytes(fig)
    plt.close(fig)
    return data


def _final_ranks(run: StoredRun) -> tuple[Any, Any, float]:
    """Mean rank of final test accuracy per strategy, Nemenyi's pairwise p-values, Friedman's p-value."""
    import pandas as pd
    import scikit_posthocs as sp
    from scipy.stats import friedmanchisquare, rankdata

    names = run.strategies
    by_cell = {(st.result.strategy, st.result.seed): st.result.mean_test_accuracy for st in run.studies}
    seeds = [s for s in run.seeds if all((n, s) in by_cell for n in names)]
    scores = pd.DataFrame([[by_cell[n, s] for n in names] for s in seeds], columns=names)
    mean_ranks = pd.Series(rankdata(-scores.to_numpy(), axis=1).mean(axis=0), index=names)
    every_seed_ties = bool((scores.nunique(axis=1) == 1).all())  # Friedman's statistic divides by the ties' spread
    friedman = friedmanchisquare(*(scores[n] for n in names)).pvalue if len(names) >= 3 and not every_seed_ties \
        else float("nan")
    return mean_ranks, sp.posthoc_nemenyi_friedman(scores.to_numpy()).set_axis(names).set_axis(names, axis=1), \
        float(friedman)


def _friedman_text(p_value: float, strategies: int) -> str:
    if strategies < 3:
        return "Friedman's test needs three strategies"
    return "every seed ties, so Friedman's test is undefined" if math.isnan(p_value) else f"Friedman p {p_value:.3g}"


class _StableName(str):
    """A strategy name whose hash is the same in every process (a str's changes with PYTHONHASHSEED)."""

    def __hash__(self) -> int:
        return int.from_bytes(hashlib.sha256(self.encode()).digest()[:8], "big")


def render_critical_difference_png(run: StoredRun) -> bytes:
    """Raises ImportError without scikit-posthocs (the `ranks` extra)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp

    mean_ranks, nemenyi, friedman = _final_ranks(run)
    # scikit-posthocs keeps the strategies under one crossbar in a set and draws them in its iteration order:
    # names whose hash does not change between processes make the same figure byte for byte in every process
    labels = [_StableName(name) for name in mean_ranks.index]
    mean_ranks, nemenyi = mean_ranks.set_axis(labels), nemenyi.set_axis(labels).set_axis(labels, axis=1)
    fig, ax = plt.subplots(figsize=(7.5, 2.5))
    sp.critical_difference_diagram(mean_ranks, nemenyi, ax=ax)
    ax.set_title(f"Mean rank of test accuracy ({run.space_label}, {len(run.seeds)} seeds; "
                 f"{_friedman_text(friedman, len(mean_ranks))})\na bar joins strategies that Nemenyi's test does not "
                 "separate at 0.05", fontsize=9)
    data = figure_bytes(fig)
    plt.close(fig)
    return data


def ranks_section(run: StoredRun, *, figures: str) -> str:
    """The summary's ranks section: mean anytime ranks at a third, two thirds and all of the budget, the final
    ranks' tests, and the figures (or how to get the diagram)."""
    names, grid, ranks = anytime_ranks(run)
    marks = sorted({max(1, len(grid) // 3), max(1, 2 * len(grid) // 3), len(grid)})
    lines = []
    for k, name in enumerate(names):
        cells = []
        for mark in marks:
            mean, low, high = band(ranks[:, k, mark - 1:mark])
            cells.append(f"{mean[0]:.2f} [{low[0]:.2f}, {high[0]:.2f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    header = ("| strategy | " + " | ".join(f"mean rank after {m} epochs [95% t]" for m in marks) + " |\n|"
              + "---|" * (len(marks) + 1) + "\n")
    try:
        mean_ranks, nemenyi, friedman = _final_ranks(run)
    except ImportError:
        tests = ("The critical-difference diagram needs scikit-posthocs: `pip install 'fmnist-bench[ranks]'`, then "
                 "`python -m fmnist_bench report`.")
    else:
        apart = [f"{a} and {b} (p {nemenyi.loc[a, b]:.3f})" for a, b in itertools.combinations(names, 2)
                 if nemenyi.loc[a, b] < 0.05]
        tests = ("Final test accuracy: mean ranks "
                 + ", ".join(f"{n} {mean_ranks[n]:.2f}" for n in mean_ranks.sort_values().index)
                 + f"; {_friedman_text(friedman, len(names))}; Nemenyi's test separates "
                 + ("; ".join(apart) if apart else "no pair") + " at 0.05.")
    return ("### Ranks\n\n" + header + "\n".join(lines) + "\n\nAnytime rank: on each seed, the strategies ranked by "
            "their incumbent's validation accuracy after that many epochs (1 = best, ties share). " + tests
            + " Ranks count who is ahead, not by how much.\n\n" + figures + "\n")
