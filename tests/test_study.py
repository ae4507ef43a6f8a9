"""The study recorder's bookkeeping, without training."""

from __future__ import annotations

from pathlib import Path

from fmnist_bench.config import PRESETS
from fmnist_bench.records import TrialRecord, TrialStatus
from fmnist_bench.store import atomic_write_json
from fmnist_bench.study import StudyRecorder, best_trial


def _record(number: int, score: float | None) -> TrialRecord:
    status = TrialStatus.COMPLETE if score is not None else TrialStatus.FAILED
    return TrialRecord(f"random-s1-t{number:03d}", number, status, score, {"neurons": 64}, 2, 0, 2, 1.0)


def test_recorder_resumes_from_stored_records_and_forgets_them_on_restart(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    atomic_write_json(records / "trial_0000.json", "trial", {"trial": _record(0, 0.8).to_dict(), "epochs": []})
    recorder = StudyRecorder(cfg=PRESETS["smoke"], strategy="random", seed=1, records_dir=records)
    assert list(recorder._finished) == ["random-s1-t000"]
    recorder.forget_all()
    assert recorder._finished == {} and list(records.iterdir()) == []


def test_best_trial_prefers_the_earlier_of_equal_scores_and_skips_failures() -> None:
    trials = [_record(0, 0.85), _record(1, None), _record(2, 0.87), _record(3, 0.87)]
    assert best_trial(trials).number == 2
    assert best_trial([_record(0, None)]) is None
