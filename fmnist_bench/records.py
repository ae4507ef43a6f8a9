"""The result records: frozen, JSON/CSV-friendly, with deterministic ids.

`params` holds only search-space values; Hyperband's bookkeeping (`tuner/epochs`, bracket, round) is kept apart
in the budget fields, so configurations can be compared and hashed without popping keys.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

__all__ = ["EPOCH_COLUMNS", "TRIAL_COLUMNS", "ClassScores", "EpochRecord", "StudyResult",
           "TrialRecord", "TrialStatus", "epoch_span", "split_values", "study_name"]


class TrialStatus(str, enum.Enum):
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"

    def is_usable(self) -> bool:
        return self is TrialStatus.COMPLETE


def epoch_span(values: dict[str, Any], default_epochs: int) -> tuple[int, int]:
    """(initial epoch, last epoch) a trial trains, from keras-tuner's values: a Hyperband promotion resumes its
    parent's checkpoint at `tuner/initial_epoch` and trains to `tuner/epochs`; other trials train 0..default."""
    return int(values.get("tuner/initial_epoch", 0)), int(values.get("tuner/epochs", default_epochs))


def pruned_reason(epoch: int) -> str:
    """The reason of a COMPLETE trial that a pruner stopped after `epoch`: its record's `epochs_target` is that
    epoch, since the budget is charged the epochs it trained."""
    return f"pruned after epoch {epoch}"


def split_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """keras-tuner's mixed dict -> (search-space params, Hyperband bookkeeping without the 'tuner/' prefix)."""
    params = {k: v for k, v in values.items() if not k.startswith("tuner/")}
    budget = {k.removeprefix("tuner/"): v for k, v in values.items() if k.startswith("tuner/")}
    return params, budget


@dataclasses.dataclass(frozen=True, slots=True)
class TrialRecord:
    """One trial: what was tried, what it cost, how it scored. `score` is its best validation accuracy."""

    trial_id: str  # "{strategy}-s{seed}-t{number:03d}"
    number: int  # zero-based, in the order the oracle created trials
    status: TrialStatus
    score: float | None
    params: dict[str, Any]
    epochs_target: int  # the epoch index training ran up to (Hyperband: tuner/epochs)
    initial_epoch: int  # > 0 for a Hyperband promotion resuming its parent's checkpoint
    epochs_trained: int
    seconds: float
    bracket: int | None = None
    round: int | None = None
    parent: str | None = None  # Hyperband: the trial whose checkpoint this one continued
    reason: str = ""  # why a FAILED trial failed, or that a pruner stopped a COMPLETE one (`pruned_reason`)
    rss_mb: float | None = None  # resident memory of the study process when the trial ended (leak check)
    # Seconds between the end of the previous trial in this process (or the start of the search) and this trial's
    # start: the oracle's own compute (Bayesian's Gaussian-process fit), which `seconds` leaves out. None in
    # records made before it was measured.
    oracle_seconds: float | None = None
    # Who ran the trial and when, for studies with workers: keras-tuner's tuner id of the worker (None for a serial
    # study), and the trial's start and end on the search's clock: simulated seconds since the search began in a
    # replay; live, the machine's Unix time (the workers of one machine share it). None in records made before.
    worker: str | None = None
    started: float | None = None
    ended: float | None = None

    @property
    def epochs_planned(self) -> int:
        """Epochs the oracle scheduled for this trial (what the epoch budget counts)."""
        return self.epochs_target - self.initial_epoch

    @property
    def cost_seconds(self) -> float:
        """All the search paid for this trial: the oracle's proposal, building, training, checkpointing."""
        return self.seconds + (self.oracle_seconds or 0.0)

    def config_key(self) -> str:
        """Identity of the configuration, independent of how long it was trained."""
        return json.dumps(self.params, sort_keys=True)

    def to_row(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "params"}
        row["status"] = self.status.value
        return row | {f"hp_{k}": v for k, v in sorted(self.params.items())}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"status": self.status.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        return cls(**(data | {"status": TrialStatus(data["status"])}))


@dataclasses.dataclass(frozen=True, slots=True)
class EpochRecord:
    """One epoch of one trial; `epoch` counts from 1 like Keras' progress bar."""

    trial_id: str
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class ClassScores:
    """Test scores of a final model: accuracy, macro F1, per-class precision/recall/F1/support (label order) and the
    confusion matrix, with the class names they were computed for (`metrics` computes them)."""

    accuracy: float
    macro_f1: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    confusion: tuple[tuple[int, ...], ...]  # (n_classes, n_classes), rows = true class, columns = predicted
    class_names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # tuples are written as JSON lists

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassScores:
        return cls(accuracy=data["accuracy"], macro_f1=data["macro_f1"], precision=tuple(data["precision"]),
                   recall=tuple(data["recall"]), f1=tuple(data["f1"]), support=tuple(data["support"]),
                   confusion=tuple(tuple(r) for r in data["confusion"]), class_names=tuple(data["class_names"]))


@dataclasses.dataclass(frozen=True, slots=True)
class StudyResult:
    """Everything `study.json` holds about one (strategy, seed) study; written last, so it marks completion."""

    strategy: str
    seed: int
    space: str
    config_digest: str
    best_trial: str
    best_params: dict[str, Any]
    best_val_accuracy: float  # best validation accuracy seen during the search
    final_val_accuracy: float  # validation accuracy of the final model (best weights restored)
    final_epochs_run: int
    final_best_epoch: int
    test: ClassScores
    test_loss: float | None  # None for a replayed study: the table stores test accuracy and confusion only
    epochs_budget: int
    epochs_planned: int
    epochs_trained: int
    trials: int
    failed_trials: int
    unique_configs: int
    search_seconds: float  # wall time of the search: sum of trial times serially, chief's time with workers
    final_fit_seconds: float
    device: str
    threads: int
    workers: int = 1  # worker processes that connected to the chief (replacements included); 1 for a serial study
    # With RunConfig.refits K > 1, or a replay: the test accuracy of each refit (the first is `test`'s); else empty.
    refit_test_accuracies: list[float] = dataclasses.field(default_factory=list)
    # Why the search ended (strategies.STOP_*): the budget, or an oracle that ran out of new configurations before
    # it. Empty in records made before it was kept.
    stop_reason: str = ""
    # A replay: the table seed the chosen trial read, and the one each refit read (in `refit_test_accuracies`'
    # order). None and empty for live studies and for replays stored before they were kept.
    chosen_table_seed: int | None = None
    refit_table_seeds: list[int] = dataclasses.field(default_factory=list)
    # A replay: the final fit's test accuracy read from each whole-grid table seed, the chosen trial's own included
    # (keys are the seeds as text). Not the study's score, nor a check: the search may have read the same run
    # (`held_out_test_accuracy` is the check). Empty for live studies and replays stored before it was kept.
    test_accuracy_by_table_seed: dict[str, float] = dataclasses.field(default_factory=dict)
    # A replay on two or more training runs: leave one run out. Per whole-grid table seed h (as text), the test
    # accuracy of the final fit read from h after this study's search replayed on the other seeds alone, so that
    # search and final fit never share a training run: the verdict's independent per-run checks. Empty for live
    # studies and replays stored before it was kept (their per-run checks varied the final fit's run only).
    held_out_test_accuracy: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return study_name(self.strategy, self.seed)

    @property
    def mean_test_accuracy(self) -> float:
        """What the comparisons across seeds use: the mean over refits when there were several (refit noise
        averaged out of the choice's quality), else the one refit's test accuracy."""
        refits = self.refit_test_accuracies
        return sum(refits) / len(refits) if refits else float(self.test.accuracy)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names} | {"test": ClassScores.from_dict(data["test"])})


# Column order of trials.csv (then one hp_<name> column per hyperparameter) and epochs.csv
TRIAL_COLUMNS = ["trial_id", "number", "status", "score", "epochs_target", "initial_epoch", "epochs_trained",
                 "seconds", "oracle_seconds", "bracket", "round", "parent", "reason", "rss_mb", "worker", "started",
                 "ended"]
EPOCH_COLUMNS = ["trial_id", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]


def study_name(strategy: str, seed: int) -> str:
    return f"{strategy}-seed{seed}"
