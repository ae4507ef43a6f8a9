"""Simple regret of replayed studies: how far a search's choice is from the best configuration the grid holds.

The table knows every configuration's curve, so the quality of a choice can be scored apart from the noise of its
refit. A configuration's value is its score in a full trial: the best validation accuracy over its first
`epochs_per_trial` epochs, averaged over the table's seeds. A study's simple regret after spending e epochs is the
best value on the grid minus the value of its incumbent (the configuration of its best-scoring trial so far), in
percentage points; 0 means the search has found the grid's best configuration. It is a validation quantity, like
the search itself; the test regret compares final test accuracies under the replayed final-fit rule.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ..records import TrialRecord
from ..tabular.table import Table, config_key, final_epoch

__all__ = ["Reference", "reference", "regret_after", "regret_curve"]


@dataclasses.dataclass(frozen=True)
class Reference:
    values: dict[str, float]  # config key -> value (mean over table seeds of the best validation accuracy); a
    # configuration that diverges under every seed has none
    best_key: str
    best_value: float
    best_test: float  # the best configuration's test accuracy under the final-fit rule, mean over table seeds


def reference(table: Table, *, epochs_per_trial: int, final_epochs: int, patience: int) -> Reference:
    seeds = table.seeds
    values = {}
    for key in table.curves[seeds[0]]:
        # a trial whose training loss stops being finite fails and can never be chosen: such seeds do not count
        scores = [np.nanmax(c.val_accuracy[:epochs_per_trial]) for c in (table.curves[s][key] for s in seeds)
                  if np.all(np.isfinite(c.loss[:epochs_per_trial]))]
        if scores:
            values[key] = float(np.mean(scores))
    best_key = max(values, key=values.__getitem__)
    tests = []
    for seed in seeds:
        curve = table.curves[seed][best_key]
        tests.append(float(curve.test_accuracy[final_epoch(curve.val_accuracy[:final_epochs], patience)]))
    return Reference(values, best_key, values[best_key], float(np.mean(tests)))


def regret_curve(trials: Sequence[TrialRecord], ref: Reference) -> tuple[np.ndarray, np.ndarray]:
    """(epochs spent, regret in pp) after each trial that changed or kept the incumbent, in trial order."""
    spent, incumbent, best_score = 0, None, -np.inf
    epochs, regrets = [], []
    for trial in sorted(trials, key=lambda t: t.number):
        spent += trial.epochs_trained
        if trial.score is not None and trial.score > best_score:
            best_score, incumbent = trial.score, config_key(trial.params)
        if incumbent is not None:
            epochs.append(spent)
            regrets.append(100 * (ref.best_value - ref.values[incumbent]))
    return np.array(epochs, dtype=float), np.array(regrets, dtype=float)


def regret_after(trials: Sequence[TrialRecord], ref: Reference, epochs: np.ndarray) -> np.ndarray:
    """Regret once each of `epochs` epochs is spent (the incumbent of the last trial ended by then); nan before the
    first trial ends."""
    spent, regret = regret_curve(trials, ref)
    index = np.searchsorted(spent, epochs, side="right") - 1
    return np.where(index >= 0, regret[np.clip(index, 0, None)] if regret.size else np.nan, np.nan)
