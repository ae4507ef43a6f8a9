"""What a study found, whoever evaluated its trials: the chosen trial, the final fits and the study's record.

A live study (`engine.study`), a replayed one (`tabular.replay`) and any other evaluator end the same way: pick with
`choose`, describe each final fit as a `Refit`, and hand both to `study_result`. Nothing here imports a backend, so
the tabular code and the reports share this bookkeeping without loading the training layer.
"""

from __future__ import annotations

import dataclasses

from .config import RunConfig
from .errors import StudyFailed
from .records import ClassScores, StudyResult, TrialRecord

__all__ = ["Refit", "best_trial", "choose", "study_result"]


def best_trial(trials: list[TrialRecord]) -> TrialRecord | None:
    """Highest score; ties go to the earlier trial (the cheaper discovery)."""
    usable = [t for t in trials if t.status.is_usable() and t.score is not None]
    return max(usable, key=lambda t: (t.score, -t.number)) if usable else None


def choose(trials: list[TrialRecord], strategy: str, seed: int) -> TrialRecord:
    """The trial whose configuration the final fit trains (`best_trial`).

    Raises:
        StudyFailed: every trial failed.
    """
    best = best_trial(trials)
    if best is None:
        reasons = sorted({t.reason for t in trials})
        raise StudyFailed(f"{strategy} seed {seed}: all {len(trials)} trials failed ({'; '.join(reasons)})")
    return best


@dataclasses.dataclass(frozen=True)
class Refit:
    """One final fit of the chosen configuration, trained live or read from a table."""

    val_history: list[float]
    test_loss: float | None
    scores: ClassScores
    seconds: float
    table_seed: int | None = None  # the training run a replayed refit read; None when trained


def study_result(cfg: RunConfig, strategy: str, seed: int, *, trials: list[TrialRecord], best: TrialRecord,
                 refits: list[Refit], search_seconds: float | None, device: str, threads: int, workers: int,
                 stop_reason: str, chosen_table_seed: int | None = None,
                 test_accuracy_by_table_seed: dict[str, float] | None = None,
                 held_out_test_accuracy: dict[str, float] | None = None) -> StudyResult:
    """The study's record, the same for every evaluator. The first refit is the one every earlier run made: its
    per-class scores and confusion matrix are reported. Search seconds: the chief's wall time when trials ran in
    parallel, else the sum of every trial's cost."""
    first = refits[0]
    history = first.val_history
    return StudyResult(
        strategy=strategy, seed=seed, space=cfg.space, config_digest=cfg.digest(), best_trial=best.trial_id,
        best_params=best.params, best_val_accuracy=float(best.score or 0.0), final_val_accuracy=float(max(history)),
        final_epochs_run=len(history), final_best_epoch=int(max(range(len(history)), key=history.__getitem__)) + 1,
        test=first.scores, test_loss=first.test_loss, epochs_budget=cfg.budget_epochs,
        epochs_planned=sum(t.epochs_planned for t in trials), epochs_trained=sum(t.epochs_trained for t in trials),
        trials=len(trials), failed_trials=sum(not t.status.is_usable() for t in trials),
        unique_configs=len({t.config_key() for t in trials}),
        search_seconds=search_seconds if search_seconds is not None else sum(t.cost_seconds for t in trials),
        final_fit_seconds=sum(r.seconds for r in refits), device=device, threads=threads, workers=workers,
        refit_test_accuracies=[r.scores.accuracy for r in refits] if len(refits) > 1 or cfg.refits_on_other_seeds
        else [],
        stop_reason=stop_reason, chosen_table_seed=chosen_table_seed,
        refit_table_seeds=[r.table_seed for r in refits if r.table_seed is not None],
        test_accuracy_by_table_seed=test_accuracy_by_table_seed or {},
        held_out_test_accuracy=held_out_test_accuracy or {})
