from __future__ import annotations

import math

import numpy as np
import pytest

from fmnist_bench.records import EpochRecord
from fmnist_bench.stats import (anytime_curve, band, curve_on_grid, first_reach, mean_ranks, median_with_misses,
                                min_detectable_difference, paired_tests, t_interval, wilson_interval, win_counts)

pytestmark = pytest.mark.stack_independent  # see pyproject.toml: CI's Keras 2 env skips it


def _epochs(accs: list[float], seconds: float = 2.0) -> list[EpochRecord]:
    return [EpochRecord("t", i + 1, 0.5, 0.8, 0.5, a, seconds) for i, a in enumerate(accs)]


def test_time_to_target_on_a_hand_built_history() -> None:
    # Trial 1 (3 epochs): 0.80 0.85 0.87; trial 2 (2 epochs): 0.86 0.884 -> first >= 0.882 at epoch 5, 10 s.
    curve = anytime_curve(_epochs([0.80, 0.85, 0.87, 0.86, 0.884]))
    assert curve.best.tolist() == [0.80, 0.85, 0.87, 0.87, 0.884]
    assert first_reach(curve, 0.882) == (5, 10.0)
    assert first_reach(curve, 0.9) is None
    assert first_reach(curve, 0.85) == (2, 4.0)


def test_nan_epochs_do_not_count_as_progress() -> None:
    curve = anytime_curve(_epochs([0.5, float("nan"), 0.6]))
    assert curve.best.tolist() == [0.5, 0.5, 0.6]


def test_curve_on_grid_is_a_step_function() -> None:
    curve = anytime_curve(_epochs([0.1, 0.3, 0.2]))
    assert curve_on_grid(curve, np.array([1, 2, 3]), by="epochs").tolist() == [0.1, 0.3, 0.3]
    on_time = curve_on_grid(curve, np.array([0.0, 2.0, 5.0]), by="seconds")
    assert math.isnan(on_time[0]) and on_time[1:].tolist() == [0.1, 0.3]


def test_t_interval_by_hand_and_its_degenerate_cases() -> None:
    # mean 0.875, sd 0.012910, sem 0.006455, t(0.975, 3) = 3.182446 -> half-width 0.020543
    low, high = t_interval([0.86, 0.87, 0.88, 0.89])
    assert (low, high) == pytest.approx((0.875 - 0.020543, 0.875 + 0.020543), abs=1e-6)
    assert t_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert all(math.isnan(v) for v in t_interval([0.7]))  # one seed: no spread, no interval


def test_the_t_interval_is_wider_than_the_percentile_bootstrap_on_five_seeds() -> None:
    # Random search's 5 test accuracies in the committed quick run (results/runs/quick-ann-4fd94296); the
    # percentile bootstrap this replaced gave [87.61%, 88.00%], 0.39 pp wide.
    low, high = t_interval([0.8783, 0.8765, 0.8753, 0.8772, 0.8821])
    assert (low, high) == pytest.approx((0.87466, 0.88110), abs=5e-5)  # mean 0.87788, sd 0.002592, t(4) 2.776


@pytest.mark.parametrize(("n", "alpha", "effect"), [
    # statsmodels' TTestPower().solve_power(nobs=n, alpha=alpha, power=0.8, alternative="two-sided"), 0.14.x
    (5, 0.05 / 3, 2.29164920221346), (10, 0.05, 0.9960019107624178), (100, 0.05 / 3, 0.32832814942942135)])
def test_the_detectable_difference_matches_statsmodels_power_solver(n: int, alpha: float, effect: float) -> None:
    assert min_detectable_difference(0.004, n, alpha=alpha) == pytest.approx(effect * 0.004, rel=1e-6)
    assert min_detectable_difference(0.0, n, alpha=alpha) == 0.0
    assert math.isnan(min_detectable_difference(0.004, 1, alpha=alpha))


def test_wilson_interval_matches_statsmodels() -> None:
    # statsmodels' proportion_confint(count, 5, alpha=0.05, method="wilson")
    assert wilson_interval(4, 5) == pytest.approx((0.3755346297625252, 0.9637758913675698))
    assert wilson_interval(2.5, 5) == pytest.approx((0.1704235806435877, 0.8295764193564124))


def test_ranks_and_wins_by_hand() -> None:
    scores = np.array([[0.9, 0.8, 0.7],   # seed 1: a > b > c
                       [0.8, 0.8, 0.9],   # seed 2: c first, a and b tie for 2nd
                       [0.7, 0.9, 0.8]])  # seed 3: b > c > a
    assert mean_ranks(scores).tolist() == pytest.approx([(1 + 2.5 + 3) / 3, (2 + 2.5 + 1) / 3, (3 + 1 + 2) / 3])
    assert win_counts(scores).tolist() == [1.0, 1.0, 1.0]
    assert win_counts(np.array([[0.9, 0.9, 0.1]])).tolist() == [0.5, 0.5, 0.0]


def test_paired_t_test_matches_hand_computation() -> None:
    # a - b = [0.01, 0.02, 0.03, 0.02, 0.02]: mean 0.02, sd 0.00707, t = 0.02 / (0.00707 / sqrt 5) = 6.325, df 4
    a = np.array([0.89, 0.90, 0.91, 0.90, 0.90])
    b = a - np.array([0.01, 0.02, 0.03, 0.02, 0.02])
    c = a.copy()
    tests = paired_tests(["a", "b", "c"], np.column_stack([a, b, c]))
    ab = next(t for t in tests if (t.a, t.b) == ("a", "b"))
    assert ab.mean_diff == pytest.approx(0.02)
    assert ab.p_value == pytest.approx(0.003198, rel=1e-3)
    ac = next(t for t in tests if (t.a, t.b) == ("a", "c"))
    assert ac.mean_diff == 0 and ac.p_value == 1.0 and not ac.significant
    # Holm: the smallest of 3 p-values is multiplied by 3.
    assert min(t.p_holm for t in tests) == pytest.approx(3 * 0.003198, rel=1e-3)
    # t-interval of the differences: 0.02 +- t(0.975, 4) 2.776445 x 0.0070711 / sqrt 5
    assert ab.ci == pytest.approx((0.02 - 0.0087796, 0.02 + 0.0087796), abs=1e-6)
    assert ab.a_wins == 1.0 and ac.a_wins == 0.5  # a beat b on every seed; a and c tie on every seed
    assert ab.detectable == pytest.approx(min_detectable_difference(0.0070711, 5, alpha=0.05 / 3), rel=1e-4)


def test_median_counts_misses_as_never() -> None:
    assert median_with_misses([10, None, 30]) == 30  # sorted: 10, 30, inf
    assert median_with_misses([10, None, None]) is None
    assert median_with_misses([4, 6]) == 5
    assert median_with_misses([]) is None


def test_band_of_identical_rows_has_zero_width() -> None:
    mean, low, high = band(np.array([[0.1, 0.2], [0.1, 0.2]]))
    assert mean.tolist() == low.tolist() == high.tolist() == [0.1, 0.2]


def test_the_time_axis_charges_each_trials_full_cost_before_its_first_epoch() -> None:
    from fmnist_bench.records import TrialRecord, TrialStatus

    def trial(tid: str, number: int, seconds: float, oracle: float | None) -> TrialRecord:
        return TrialRecord(tid, number, TrialStatus.COMPLETE, 0.8, {}, 2, 0, 2, seconds, oracle_seconds=oracle)

    epochs = [EpochRecord("a", 1, 0.5, 0.8, 0.5, 0.80, 2.0), EpochRecord("a", 2, 0.5, 0.8, 0.5, 0.85, 2.0),
              EpochRecord("c", 1, 0.5, 0.8, 0.5, 0.86, 1.0)]
    # a: 5 s of trial (4 in epochs) + 1 s oracle -> 2 s before its first epoch; b failed before any epoch (3 s);
    # c: 1.5 s of trial (1 in its epoch) + 0.5 s oracle -> 1 s, plus b's 3 s, before its epoch
    trials = [trial("a", 0, 5.0, 1.0), trial("b", 1, 2.5, 0.5), trial("c", 2, 1.5, 0.5)]
    assert anytime_curve(epochs, trials).seconds.tolist() == [4.0, 6.0, 11.0]
    assert anytime_curve(epochs).seconds.tolist() == [2.0, 4.0, 5.0]  # epochs only
    # records made before the oracle was timed: build and checkpoint time still count
    assert anytime_curve(epochs, [trial("a", 0, 5.0, None)]).seconds.tolist() == [3.0, 5.0, 6.0]


def test_an_interval_that_excludes_zero_by_less_than_a_hundredth_does_not_print_as_touching_it() -> None:
    from fmnist_bench.markdown import fmt_interval
    from fmnist_bench.reports.verdict import spread

    assert fmt_interval((-0.0061, -0.000046), signed=True) == "[-0.61, -0.005]"
    assert fmt_interval((-0.0061, 0.0), signed=True) == "[-0.61, +0.00]"
    assert fmt_interval((0.8731, 0.8805)) == "[87.31, 88.05]"
    # the held-out checks too: a run that keeps the sign by 0.0008 pp says so
    assert spread({5: 0.0076, 6: 0.0029, 7: 0.000008}) == "+0.001 to +0.76 pp"
