"""The study recorder's bookkeeping, without training."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fmnist_bench.config import PRESETS
from fmnist_bench.errors import StudyFailed
from fmnist_bench.records import TrialRecord, TrialStatus
from fmnist_bench.store import StudyPaths, atomic_write_json
from fmnist_bench.engine.study import StudyRecorder
from fmnist_bench.outcome import best_trial


def _record(number: int, score: float | None) -> TrialRecord:
    status = TrialStatus.COMPLETE if score is not None else TrialStatus.FAILED
    return TrialRecord(f"random-s1-t{number:03d}", number, status, score, {"neurons": 64}, 2, 0, 2, 1.0)


def test_recorder_resumes_from_stored_records_and_sets_them_aside_on_restart(tmp_path: Path) -> None:
    files = StudyPaths(tmp_path / "study", tmp_path)
    records = files.trial_records
    atomic_write_json(files.trial_record(0), "trial", {"trial": _record(0, 0.8).to_dict(), "epochs": []})
    recorder = StudyRecorder(cfg=PRESETS["smoke"], strategy="random", seed=1, files=files)
    assert list(recorder._finished) == ["random-s1-t000"]
    aside = recorder.set_aside("damaged-x")
    assert recorder._finished == {} and list(records.iterdir()) == []
    assert [p.name for p in aside.iterdir()] == ["trial_0000.json"]  # kept, not deleted


def _stored_study(tmp_path: Path) -> tuple[Path, StudyRecorder]:
    """A keras-tuner project as a finished trial leaves it, and one trial record of the harness's."""
    from fmnist_bench.engine.study import open_tuner

    work = tmp_path / "work"
    files = StudyPaths(work.parent / "study", work)
    recorder = StudyRecorder(cfg=PRESETS["smoke"], strategy="random", seed=1, files=files)
    tuner = open_tuner(PRESETS["smoke"], "random", 1, files, recorder, None)
    tuner.save()  # oracle.json and the tuner file, as keras-tuner writes them after each trial
    atomic_write_json(files.trial_record(0), "trial", {"trial": _record(0, 0.8).to_dict(), "epochs": []})
    return work, recorder


def test_a_project_cut_off_mid_write_is_moved_aside_with_the_records_and_the_study_restarts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from fmnist_bench.engine.study import open_tuner

    work, recorder = _stored_study(tmp_path)
    oracle = work / "tuner" / "oracle.json"
    oracle.write_text(oracle.read_text()[:40])  # what a kill in the middle of keras-tuner's write leaves
    with caplog.at_level(logging.WARNING):
        tuner = open_tuner(PRESETS["smoke"], "random", 1, StudyPaths(work.parent / "study", work), recorder, None)
    assert tuner.oracle.trials == {}  # a fresh start
    (project_aside,) = work.glob("tuner.damaged-*")
    (records_aside,) = work.glob("records.damaged-*")
    assert (project_aside / "oracle.json").stat().st_size == 40  # kept as the kill left it
    assert [p.name for p in records_aside.iterdir()] == ["trial_0000.json"]
    assert str(project_aside) in caplog.text and str(records_aside) in caplog.text


def test_a_project_that_parses_but_cannot_be_reloaded_stops_the_study_and_deletes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fmnist_bench.engine import study

    work, recorder = _stored_study(tmp_path)
    before = sorted(p.relative_to(work) for p in work.rglob("*"))

    def unreadable(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(work / "tuner" / "oracle.json"))

    monkeypatch.setattr(study, "_build_tuner", unreadable)
    with pytest.raises(StudyFailed, match=r"cannot reload the keras-tuner project .*tuner \(.*oracle\.json: "
                                          r"PermissionError: .*nothing was deleted.*traceback in .*errors\.log"):
        study.open_tuner(PRESETS["smoke"], "random", 1, StudyPaths(work.parent / "study", work), recorder, None)
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == sorted([*before, Path("errors.log")])
    assert "in unreadable" in (work / "errors.log").read_text()  # the traceback of what failed, kept


def test_best_trial_prefers_the_earlier_of_equal_scores_and_skips_failures() -> None:
    trials = [_record(0, 0.85), _record(1, None), _record(2, 0.87), _record(3, 0.87)]
    assert best_trial(trials).number == 2
    assert best_trial([_record(0, None)]) is None


def test_time_a_trial_waits_on_the_oracle_mid_trial_is_the_oracles_not_the_trials(tmp_path: Path) -> None:
    """A pruning strategy's per-epoch answers are the oracle's compute (issue #26's accounting): moved from the
    trial's seconds to its oracle seconds, the total cost unchanged."""
    import types

    import keras_tuner as kt

    files = StudyPaths(tmp_path / "study", tmp_path / "work")
    recorder = StudyRecorder(cfg=PRESETS["smoke"], strategy="tpe-hyperband", seed=1, files=files)
    hp = kt.HyperParameters()
    hp.values = {"neurons": 64}
    trial = types.SimpleNamespace(trial_id="0", hyperparameters=hp, status="COMPLETED")
    recorder.trial_started(trial)
    recorder.epoch_started(trial, 0)
    recorder.epoch_ended(trial, 0, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.5, "val_accuracy": 0.8})
    recorder.oracle_answered(1e6)  # 11.6 days: more than any run of this test takes, so the move shows
    before = recorder._oracle_seconds
    recorder.trial_ended(trial, "", pruned=True)
    (record,) = recorder._finished.values()
    assert record.oracle_seconds == pytest.approx(before + 1e6)
    assert record.seconds < 0  # the elapsed wall time minus the 1e6 s said to be the oracle's
    assert record.reason == "pruned after epoch 1" and record.epochs_target == 1
