"""Statistics over trials and seeds: anytime curves, time-to-target, bootstrap intervals, ranks, paired tests.

Pure functions on numbers, no IO, so each one is checked against hand-computed values in the tests.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Sequence

import numpy as np
from scipy import stats as sps

from .records import EpochRecord

__all__ = ["Curve", "anytime_curve", "first_reach", "bootstrap_ci", "mean_ranks", "win_counts", "PairedTest",
           "paired_tests", "normalised_scores", "median_with_misses", "curve_on_grid", "band"]


@dataclasses.dataclass(frozen=True)
class Curve:
    """Best validation accuracy so far after each epoch a study trained, in training order."""

    epochs: np.ndarray  # (n_epochs,) cumulative epochs spent: 1, 2, ...
    seconds: np.ndarray  # (n_epochs,) cumulative training seconds
    best: np.ndarray  # (n_epochs,) running maximum of val_accuracy


def anytime_curve(epochs: Sequence[EpochRecord]) -> Curve:
    """NaN accuracies (diverged epochs) count as no improvement."""
    acc = np.array([e.val_accuracy for e in epochs], dtype=float)  # (n,)
    acc = np.where(np.isfinite(acc), acc, -np.inf)
    best = np.maximum.accumulate(acc) if acc.size else acc
    return Curve(np.arange(1, acc.size + 1), np.cumsum([e.seconds for e in epochs], dtype=float),
                 np.where(np.isfinite(best), best, np.nan))


def first_reach(curve: Curve, target: float) -> tuple[int, float] | None:
    """(epochs, seconds) spent when validation accuracy first reached `target`, or None if it never did."""
    hits = np.flatnonzero(curve.best >= target)
    return (int(curve.epochs[hits[0]]), float(curve.seconds[hits[0]])) if hits.size else None


def bootstrap_ci(values: Sequence[float], *, level: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; a single value gives (value, value)."""
    data = np.asarray(values, dtype=float)  # (n,)
    if data.size < 2:
        return (float(data[0]), float(data[0])) if data.size else (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)  # (resamples,)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def mean_ranks(scores: np.ndarray) -> np.ndarray:
    """Mean rank per strategy; `scores` is (n_seeds, n_strategies), higher is better, rank 1 is best, ties share."""
    ranks = np.vstack([sps.rankdata(-row, method="average") for row in scores])  # (n_seeds, n_strategies)
    return ranks.mean(axis=0)


def win_counts(scores: np.ndarray) -> np.ndarray:
    """Seeds won per strategy; a tie splits the seed between the tied strategies."""
    wins = np.zeros(scores.shape[1])
    for row in scores:
        best = np.flatnonzero(row == row.max())
        wins[best] += 1 / best.size
    return wins


@dataclasses.dataclass(frozen=True)
class PairedTest:
    a: str
    b: str
    mean_diff: float  # mean over seeds of (a - b)
    ci: tuple[float, float]  # bootstrap 95% interval of that mean
    p_value: float  # two-sided paired t-test
    p_holm: float  # Holm-adjusted over all pairs

    @property
    def significant(self) -> bool:
        return self.p_holm < 0.05


def paired_tests(names: Sequence[str], scores: np.ndarray) -> list[PairedTest]:
    """Paired t-test per pair of strategies over seeds (same seed = same split and first configurations).

    A t-test rather than Wilcoxon: with 5 seeds the exact two-sided Wilcoxon signed-rank test cannot go below
    p = 0.0625, so it could never call a difference significant. Holm's correction covers the three pairs.
    """
    raw: list[tuple[str, str, float, tuple[float, float], float]] = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            diff = scores[:, i] - scores[:, j]  # (n_seeds,)
            if diff.size < 2:
                p = math.nan
            elif np.allclose(diff, diff[0]):
                p = 1.0 if diff[0] == 0 else 0.0
            else:
                p = float(sps.ttest_rel(scores[:, i], scores[:, j]).pvalue)
            raw.append((names[i], names[j], float(diff.mean()), bootstrap_ci(diff), p))
    order = sorted(range(len(raw)), key=lambda k: (math.isnan(raw[k][4]), raw[k][4]))
    adjusted = [math.nan] * len(raw)
    running = 0.0
    for position, k in enumerate(order):
        p = raw[k][4]
        if math.isnan(p):
            continue
        running = max(running, min(1.0, p * (len(raw) - position)))
        adjusted[k] = running
    return [PairedTest(a, b, d, ci, p, adjusted[k]) for k, (a, b, d, ci, p) in enumerate(raw)]


def normalised_scores(names: Sequence[str], means: Sequence[float], best_found: float,
                      baseline: str = "random") -> list[float]:
    """(mean - baseline mean) / (best_found - baseline mean): the baseline scores 0, the best single result any
    study found scores 1, and a strategy worse than the baseline goes negative."""
    if baseline not in names:
        return [math.nan] * len(names)
    base = means[list(names).index(baseline)]
    span = best_found - base
    return [(m - base) / span if span > 0 else math.nan for m in means]


def median_with_misses(values: Sequence[float | None]) -> float | None:
    """Median where a miss (None) counts as never, i.e. +inf; None when the median seed never got there."""
    if not values:
        return None
    median = float(np.median([math.inf if v is None else v for v in values]))
    return None if math.isinf(median) else median


def curve_on_grid(curve: Curve, grid: np.ndarray, *, by: str) -> np.ndarray:
    """Best-so-far at each grid point of epochs or seconds (step function; NaN before the first epoch)."""
    x = curve.epochs if by == "epochs" else curve.seconds
    index = np.searchsorted(x, grid, side="right") - 1  # (n_grid,)
    values = curve.best[np.clip(index, 0, None)] if curve.best.size else np.full(grid.shape, np.nan)
    return np.where(index >= 0, values, np.nan)


def band(matrix: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and bootstrap 95% band per column of (n_seeds, n_points), ignoring NaN columns' missing seeds."""
    with warnings.catch_warnings():  # a column with no seed yet (before the first epoch) is simply NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=0)  # (n_points,)
    lo, hi = np.empty_like(mean), np.empty_like(mean)
    for k in range(matrix.shape[1]):
        column = matrix[:, k][np.isfinite(matrix[:, k])]
        lo[k], hi[k] = bootstrap_ci(column, resamples=resamples, seed=seed) if column.size else (np.nan, np.nan)
    return mean, lo, hi
