"""Statistics over trials and seeds: anytime curves, time-to-target, t-intervals, ranks, paired tests and power.

Pure functions on numbers, no IO, so each one is checked against hand-computed or reference values in the tests.
Intervals are Student-t intervals: with the 1-5 seeds a live run affords, a percentile bootstrap of the mean is
about 40% too narrow (it ignores that the spread itself is estimated from a handful of values).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Sequence

import numpy as np
from scipy import stats as sps

from .records import EpochRecord, TrialRecord

__all__ = ["Curve", "anytime_curve", "first_reach", "t_interval", "mean_ranks", "win_counts", "PairedTest",
           "paired_tests", "min_detectable_difference", "wilson_interval", "median_with_misses", "curve_on_grid",
           "band", "resample_interval", "ALPHA", "POWER"]

ALPHA = 0.05  # family-wise level of the paired tests (Holm)
POWER = 0.8  # power at which the smallest detectable difference is stated


@dataclasses.dataclass(frozen=True)
class Curve:
    """Best validation accuracy so far after each epoch a study trained, in training order."""

    epochs: np.ndarray  # (n_epochs,) cumulative epochs spent: 1, 2, ...
    seconds: np.ndarray  # (n_epochs,) cumulative search seconds when the epoch ended (see anytime_curve)
    best: np.ndarray  # (n_epochs,) running maximum of val_accuracy


def anytime_curve(epochs: Sequence[EpochRecord], trials: Sequence[TrialRecord] = ()) -> Curve:
    """NaN accuracies (diverged epochs) count as no improvement.

    With the study's `trials`, the time axis counts all search cost: each trial's cost beyond its epochs (the
    oracle's proposal, model building, checkpointing; `TrialRecord.cost_seconds` minus its epochs' seconds) is
    charged before its first epoch (a trial that failed before training any epoch: before the next trial's first
    epoch). Without them, only epoch seconds count.
    """
    if any(t.worker for t in trials):
        return _wall_clock_curve(epochs, trials)
    acc = np.array([e.val_accuracy for e in epochs], dtype=float)  # (n,)
    acc = np.where(np.isfinite(acc), acc, -np.inf)
    best = np.maximum.accumulate(acc) if acc.size else acc
    spent = np.array([e.seconds for e in epochs], dtype=float)  # (n,)
    first_epoch: dict[str, int] = {}
    trained: dict[str, float] = {}
    for k, e in enumerate(epochs):
        first_epoch.setdefault(e.trial_id, k)
        trained[e.trial_id] = trained.get(e.trial_id, 0.0) + e.seconds
    pending = 0.0  # the cost of trials that failed before their first epoch, paid before the next epoch
    for t in sorted(trials, key=lambda t: t.number):
        pending += max(0.0, t.cost_seconds - trained.get(t.trial_id, 0.0))
        if t.trial_id in first_epoch:
            spent[first_epoch[t.trial_id]] += pending
            pending = 0.0
    return Curve(np.arange(1, acc.size + 1), np.cumsum(spent), np.where(np.isfinite(best), best, np.nan))


def _wall_clock_curve(epochs: Sequence[EpochRecord], trials: Sequence[TrialRecord]) -> Curve:
    """A study whose trials ran on several workers: its epochs in the order they ended on the search's clock (each
    trial's recorded start, then its set-up, then its epochs), seconds counted from the first proposal, epochs
    counted in that order."""
    by_id = {t.trial_id: t for t in trials if t.started is not None}
    if not by_id:
        return Curve(np.zeros(0), np.zeros(0), np.zeros(0))
    origin = min(t.started - (t.oracle_seconds or 0.0) for t in by_id.values())  # type: ignore[operator]
    trained: dict[str, float] = {}
    for e in epochs:
        trained[e.trial_id] = trained.get(e.trial_id, 0.0) + e.seconds
    clock = {trial_id: t.started - origin + max(0.0, t.seconds - trained.get(trial_id, 0.0))  # type: ignore[operator]
             for trial_id, t in by_id.items()}
    ends, values = [], []
    for e in epochs:
        if e.trial_id in clock:
            clock[e.trial_id] += e.seconds
            ends.append(clock[e.trial_id])
            values.append(e.val_accuracy if math.isfinite(e.val_accuracy) else -math.inf)
    order = np.argsort(np.array(ends), kind="stable")
    best = np.maximum.accumulate(np.array(values, dtype=float)[order]) if values else np.zeros(0)
    return Curve(np.arange(1, len(values) + 1), np.array(ends, dtype=float)[order],
                 np.where(np.isfinite(best), best, np.nan))


def first_reach(curve: Curve, target: float | None) -> tuple[int, float] | None:
    """(epochs, seconds) spent when validation accuracy first reached `target`, or None if it never did (or the
    task has no target)."""
    if target is None:
        return None
    hits = np.flatnonzero(curve.best >= target)
    return (int(curve.epochs[hits[0]]), float(curve.seconds[hits[0]])) if hits.size else None


def t_interval(values: Sequence[float] | np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean: mean +- t(n-1) x sd / sqrt(n). NaN with fewer than 2 values (no spread
    to estimate), a point for identical values."""
    data = np.asarray(values, dtype=float)  # (n,)
    if data.size < 2:
        return math.nan, math.nan
    mean, sem = float(data.mean()), float(data.std(ddof=1)) / math.sqrt(data.size)
    half = float(sps.t.ppf(0.5 + level / 2, data.size - 1)) * sem
    return mean - half, mean + half


def resample_interval(differences: Sequence[np.ndarray], *, level: float = 0.95, seed: int = 0
                      ) -> tuple[float, float]:
    """Percentile interval of a mean paired difference measured on each of several bootstrap tables (one array of
    per-seed differences each): each table's seeds are resampled too, with replacement (fixed by `seed`), so the
    spread holds both the tables' training noise and the seeds'. NaN differences (a failed study) are left out;
    NaN without any."""
    rng = np.random.default_rng(seed)
    means = []
    for values in differences:
        data = np.asarray(values, dtype=float)
        data = data[np.isfinite(data)]
        if data.size:
            means.append(float(data[rng.integers(0, data.size, data.size)].mean()))
    if not means:
        return math.nan, math.nan
    low, high = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


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
    ci: tuple[float, float]  # 95% paired t-interval of that mean
    p_value: float  # two-sided paired t-test, uncorrected
    p_holm: float  # Holm-adjusted over all pairs
    detectable: float  # smallest true mean difference this design finds with POWER at ALPHA after Holm
    a_wins: float  # share of seeds on which a beat b, a tie counting half
    a_wins_ci: tuple[float, float]  # 95% Wilson interval of that share

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA

    @property
    def identical(self) -> bool:
        """The two scored the same on every seed (the differences neither vary nor average away from 0): there is
        no spread from which to state a detectable difference."""
        return self.detectable == 0.0 and self.mean_diff == 0.0


def paired_tests(names: Sequence[str], scores: np.ndarray) -> list[PairedTest]:
    """Paired t-test per pair of strategies over seeds (same seed = same split and first configurations).

    A t-test rather than Wilcoxon: with 5 seeds the exact two-sided Wilcoxon signed-rank test cannot go below
    p = 0.0625, so it could never call a difference significant. Holm's correction covers all pairs; the smallest
    detectable difference is stated at Holm's strictest level (ALPHA / pairs), which is what a difference must
    pass when it is the only real one.
    """
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    raw_p = []
    for i, j in pairs:
        diff = scores[:, i] - scores[:, j]  # (n_seeds,)
        if diff.size < 2:
            raw_p.append(math.nan)
        elif np.allclose(diff, diff[0]):
            raw_p.append(1.0 if diff[0] == 0 else 0.0)
        else:
            raw_p.append(float(sps.ttest_rel(scores[:, i], scores[:, j]).pvalue))
    adjusted = _holm(raw_p)
    tests = []
    for (i, j), p, p_holm in zip(pairs, raw_p, adjusted, strict=True):
        diff = scores[:, i] - scores[:, j]  # (n_seeds,)
        wins = float(np.sum(diff > 0) + 0.5 * np.sum(diff == 0))
        sd = float(diff.std(ddof=1)) if diff.size > 1 else math.nan
        tests.append(PairedTest(names[i], names[j], float(diff.mean()), t_interval(diff), p, p_holm,
                                min_detectable_difference(sd, diff.size, alpha=ALPHA / len(pairs)),
                                wins / diff.size, wilson_interval(wins, diff.size)))
    return tests


def _holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment; NaN p-values stay NaN and do not count as tests."""
    order = sorted((k for k, p in enumerate(p_values) if not math.isnan(p)), key=lambda k: p_values[k])
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for position, k in enumerate(order):
        running = max(running, min(1.0, p_values[k] * (len(order) - position)))
        adjusted[k] = running
    return adjusted


def min_detectable_difference(sd: float, n: int, *, alpha: float, power: float = POWER) -> float:
    """Smallest true mean paired difference that a two-sided paired t-test over `n` seeds detects with `power`
    at level `alpha`, given the spread `sd` of the per-seed differences (noncentral t, solved numerically).
    NaN with fewer than 2 seeds; 0 when the differences do not vary."""
    if n < 2 or math.isnan(sd):
        return math.nan
    if sd == 0:
        return 0.0
    df = n - 1
    critical = float(sps.t.ppf(1 - alpha / 2, df))

    def shortfall(noncentrality: float) -> float:  # power at this noncentrality, minus the wanted power
        # the lower tail is negligible here, and scipy's nct.cdf can return NaN for it at large noncentrality
        lower = float(np.nan_to_num(sps.nct.cdf(-critical, df, noncentrality), nan=0.0))
        return float(sps.nct.sf(critical, df, noncentrality)) + lower - power

    from scipy.optimize import brentq

    return float(brentq(shortfall, 1e-9, 1000.0)) / math.sqrt(n) * sd


def wilson_interval(successes: float, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (ties may count as half successes); NaN for n = 0."""
    if n == 0:
        return math.nan, math.nan
    z = float(sps.norm.ppf(0.5 + level / 2))
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return centre - half, centre + half


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


def band(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% t-interval per column of (n_seeds, n_points), over the seeds that have a value there."""
    with warnings.catch_warnings():  # a column with no seed yet (before the first epoch) is simply NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=0)  # (n_points,)
    lo, hi = np.empty_like(mean), np.empty_like(mean)
    for k in range(matrix.shape[1]):
        lo[k], hi[k] = t_interval(matrix[:, k][np.isfinite(matrix[:, k])])
    return mean, lo, hi
