"""One study = one strategy x one seed, run in its own process: search, final fit, test evaluation, records.

Order of writes is what makes interruption safe: each finished trial's record goes to the work folder before
keras-tuner marks the trial ended; the study's CSVs and `records.json` go next; `study.json` goes last.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Protocol

from ..config import RunConfig
from ..errors import StudyFailed
from ..faults import after_trial_recorded
from ..outcome import Refit, choose, study_result
from ..records import EpochRecord, StudyResult, TrialRecord, TrialStatus, epoch_span, pruned_reason, split_values, \
    study_name
from ..store import RunPaths, StudyPaths, atomic_write_json, chief_token, keep_traceback, read_json, set_aside, \
    write_failure, write_study
from ..markdown import fmt_seconds

__all__ = ["ParallelSearch", "StudyRecorder", "run_study", "run_worker"]

log = logging.getLogger(__name__)

def _rss_mb() -> float | None:
    """Current resident set size from /proc (Linux); None elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


class StudyRecorder:
    """Turns tuner callbacks into trial/epoch records on disk and one concise progress line per trial."""

    def __init__(self, *, cfg: RunConfig, strategy: str, seed: int, files: StudyPaths) -> None:
        self.cfg, self.strategy, self.seed = cfg, strategy, seed
        self.files = files
        files.trial_records.mkdir(parents=True, exist_ok=True)
        self._trial_start = 0.0
        self._trial_started_at = 0.0
        self._epoch_start = 0.0
        self._previous_end = time.perf_counter()  # the oracle's time before the first trial counts from here
        self._oracle_seconds: float | None = None
        self._answered_seconds = 0.0  # the oracle's mid-trial answers (`oracle_answered`) in the current trial
        self._epochs: list[EpochRecord] = []
        # Trials ended in earlier processes of this study (resume), keyed by id: a retried trial replaces its entry.
        self._finished: dict[str, TrialRecord] = {}
        self._refresh()

    def set_aside(self, suffix: str) -> Path:
        """Move every stored trial record to a sibling folder (kept, never deleted) for a study that restarts."""
        aside = set_aside(self.files.trial_records, suffix)
        self.files.trial_records.mkdir(parents=True)
        self._finished.clear()
        return aside

    def record_id(self, trial_id: str | int) -> str:
        return f"{self.strategy}-s{self.seed}-t{int(trial_id):03d}"

    def _path(self, trial_id: str) -> Path:
        return self.files.trial_record(int(trial_id))

    def search_starting(self) -> None:
        """Start the oracle's clock: set-up (data, TensorFlow) before the search is not search cost."""
        self._previous_end = time.perf_counter()

    def trial_started(self, trial: Any) -> None:
        self._epochs = []
        self._trial_start = time.perf_counter()
        self._trial_started_at = time.time()
        self._oracle_seconds = self._trial_start - self._previous_end
        self._answered_seconds = 0.0

    def oracle_answered(self, seconds: float) -> None:
        """The trial waited `seconds` on the oracle mid-trial (a pruner judging an epoch): the oracle's compute, not
        the trial's."""
        self._answered_seconds += seconds

    def epoch_started(self, trial: Any, epoch: int) -> None:
        self._epoch_start = time.perf_counter()

    def epoch_ended(self, trial: Any, epoch: int, logs: dict[str, float]) -> None:
        self._epochs.append(EpochRecord(
            trial_id=self.record_id(trial.trial_id), epoch=epoch + 1, loss=float(logs.get("loss", "nan")),
            accuracy=float(logs.get("accuracy", "nan")), val_loss=float(logs.get("val_loss", "nan")),
            val_accuracy=float(logs.get("val_accuracy", "nan")), seconds=time.perf_counter() - self._epoch_start))

    def trial_ended(self, trial: Any, reason: str, pruned: bool = False) -> None:
        params, budget = split_values(dict(trial.hyperparameters.values))
        first, last = epoch_span(trial.hyperparameters.values, self.cfg.epochs_per_trial)
        ok = trial.status == "COMPLETED" and self._epochs
        if ok and pruned:
            last = first + len(self._epochs)
        scores = [e.val_accuracy for e in self._epochs if e.val_accuracy == e.val_accuracy]
        record = TrialRecord(
            trial_id=self.record_id(trial.trial_id), number=int(trial.trial_id),
            status=TrialStatus.COMPLETE if ok else TrialStatus.FAILED,
            score=max(scores) if ok and scores else None, params=params,
            epochs_target=last, initial_epoch=first, epochs_trained=len(self._epochs),
            seconds=time.perf_counter() - self._trial_start - self._answered_seconds, bracket=budget.get("bracket"),
            round=budget.get("round"),
            parent=self.record_id(budget["trial_id"]) if budget.get("trial_id") is not None else None,
            reason=(pruned_reason(last) if pruned else "") if ok
            else (reason or "trial ended without reporting an epoch"),
            rss_mb=_rss_mb(),
            oracle_seconds=None if self._oracle_seconds is None else self._oracle_seconds + self._answered_seconds,
            worker=os.environ.get("KERASTUNER_TUNER_ID"), started=round(self._trial_started_at, 3),
            ended=round(time.time(), 3))
        atomic_write_json(self._path(trial.trial_id), "trial",
                          {"trial": record.to_dict(), "epochs": [e.to_dict() for e in self._epochs]})
        self._finished[record.trial_id] = record
        self._report(record)
        after_trial_recorded(study_name(self.strategy, self.seed), record.number)  # tests' stop point; else nothing
        self._previous_end = time.perf_counter()

    def trial_lost(self, trial: Any, reason: str) -> None:
        """Record a trial whose worker died: FAILED with the reason, no epochs (the chief calls this)."""
        self._epochs = []
        self._trial_start = time.perf_counter()
        self._trial_started_at = time.time()
        self._oracle_seconds = None  # the chief's oracle served other workers meanwhile: nothing to attribute
        self._answered_seconds = 0.0
        self.trial_ended(trial, reason)

    def spent_seconds(self) -> float:
        """Search seconds spent so far by this study's ended trials (every process and worker), oracle included."""
        self._refresh()
        return sum(t.cost_seconds for t in self._finished.values())

    def _refresh(self) -> None:
        """Pick up trials recorded by earlier processes or by other workers of this study (only ones not yet read)."""
        for number, path in self.files.stored_trial_records().items():
            trial_id = self.record_id(number)
            if trial_id not in self._finished:
                self._finished[trial_id] = TrialRecord.from_dict(read_json(path, "trial")["trial"])

    def _report(self, record: TrialRecord) -> None:
        self._refresh()
        done = self._finished.values()
        spent = sum(t.epochs_planned for t in done)
        seconds = sum(t.cost_seconds for t in done)
        left = seconds / max(spent, 1) * max(self.cfg.budget_epochs - spent, 0)
        outcome = f"val_acc {record.score:.4f}" if record.score is not None else f"FAILED ({record.reason})"
        best_score = max((t.score for t in done if t.score is not None), default=None)
        best = f"{best_score:.4f}" if best_score is not None else "-"
        # named as in the records (t000 is the first trial), so that "final fit of random-s1-t001" can be traced
        log.info("[%s seed%d] trial %s (%d ep) %s | best %s | epochs %d/%d | %s searched, ~%s to go before final fit",
                 self.strategy, self.seed, record.trial_id.rsplit("-", 1)[-1], record.epochs_trained, outcome, best,
                 spent,
                 self.cfg.budget_epochs, fmt_seconds(seconds), fmt_seconds(left))

    def load(self, trial_ids: list[str]) -> tuple[list[TrialRecord], list[EpochRecord]]:
        """Records for the oracle's ended trials, in creation order."""
        trials: list[TrialRecord] = []
        epochs: list[EpochRecord] = []
        for trial_id in sorted(trial_ids, key=int):
            document = read_json(self._path(trial_id), "trial")
            trials.append(TrialRecord.from_dict(document["trial"]))
            epochs += [EpochRecord.from_dict(e) for e in document["epochs"]]
        return trials, epochs


def _build_tuner(cfg: RunConfig, strategy: str, seed: int, files: StudyPaths, recorder: StudyRecorder,
                 trials_per_process: int | None = None) -> Any:
    from ..engine.spaces import build_space
    from ..engine.strategies import build_tuner

    return build_tuner(strategy, cfg=cfg, seed=seed, hypermodel=build_space(cfg.space, cfg.space_fingerprint),
                       directory=str(files.tuner_project.parent), project_name=files.tuner_project.name,
                       observer=recorder, trials_per_process=trials_per_process)


def open_tuner(cfg: RunConfig, strategy: str, seed: int, files: StudyPaths, recorder: StudyRecorder,
                trials_per_process: int | None) -> Any:
    """Reload the study's keras-tuner project. Finished work is never deleted.

    A kill while keras-tuner writes its JSON leaves a file that does not parse: then the project and the trial
    records are moved aside (the warning says where) and the study restarts, which gives the same trials again (each
    trial's seed depends only on its id). Any other failure to reload (permissions, a full disk, a project written
    by another keras-tuner) stops the study with one line naming the cause, and every file stays where it is.

    Raises:
        StudyFailed: the project exists, is not damaged, and cannot be reloaded.
    """
    project = files.tuner_project
    try:
        return _build_tuner(cfg, strategy, seed, files, recorder, trials_per_process)
    except Exception as exc:  # keras-tuner raises RuntimeError/KeyError/JSON errors on a project it cannot read
        if (failed_write := write_failure(exc, full_disk_only=True)) is not None:  # the whole run stops
            raise failed_write from None
        damaged = _unparsable_json(project)
        if not damaged:
            where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
            log_path = keep_traceback(files.error_log, exc)
            raise StudyFailed(f"{strategy} seed {seed}: cannot reload the keras-tuner project {project} ({where}"
                              f"{type(exc).__name__}: {exc}); nothing was deleted, fix the cause and run the same "
                              f"command again (traceback in {log_path})") from None
    suffix = f"damaged-{time.strftime('%Y%m%dT%H%M%S')}"
    project_aside = set_aside(project, suffix)
    records_aside = recorder.set_aside(suffix)
    log.warning("[%s seed%d] %s was cut off mid-write (it does not parse); the keras-tuner project is kept in %s and "
                "the trial records in %s, and the study restarts", strategy, seed, damaged[0], project_aside,
                records_aside)
    return _build_tuner(cfg, strategy, seed, files, recorder, trials_per_process)


def _unparsable_json(folder: Path) -> list[Path]:
    """The JSON files under `folder` that do not parse: what a kill in the middle of a write leaves behind."""
    damaged = []
    for path in sorted(folder.rglob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            damaged.append(path)
        except OSError:  # unreadable is not damaged: the caller reports the reload error itself
            continue
    return damaged


def _setup(cfg: RunConfig, strategy: str, seed: int, paths: RunPaths, *, data_dir: Path | None, device: str,
           threads: int) -> tuple[str, Any, StudyRecorder]:
    """Per-process set-up shared by a serial study, a chief and a worker: TensorFlow, data, the trial recorder."""
    from ..engine import runtime
    from ..engine.strategies import write_state_atomically

    device_name = runtime.configure(device=device, threads=threads)
    write_state_atomically()
    # keras-tuner's Hyperband resumes a promoted trial from its parent's weights with a fresh optimizer; Keras warns
    # about the optimizer state it skips on every promotion. Documented (docs/method.md), not repeated per trial.
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    # BayesianOptimization's Gaussian process fit warns when a length scale hits its bound; it is not actionable.
    warnings.filterwarnings("ignore", message="The optimal value found for dimension")
    from ..data import make_splits
    from ..datasets import load_checked

    splits = make_splits(load_checked(cfg.data, cfg.data_fingerprint, data_dir), seed=seed, val_size=cfg.val_size,
                         train_subset=cfg.train_subset, test_subset=cfg.test_subset)
    recorder = StudyRecorder(cfg=cfg, strategy=strategy, seed=seed, files=paths.study(strategy, seed))
    return device_name, splits, recorder


def _search_kwargs(cfg: RunConfig, splits: Any) -> dict[str, Any]:
    import keras

    return dict(x=splits.x_train, y=splits.y_train, validation_data=(splits.x_val, splits.y_val),
                epochs=cfg.epochs_per_trial, batch_size=cfg.batch_size, verbose=0,
                callbacks=[keras.callbacks.TerminateOnNaN()])


def run_worker(cfg: RunConfig, strategy: str, seed: int, paths: RunPaths, *, oracle: str, tuner_id: str,
               data_dir: Path | None, device: str, threads: int, chief_timeout: float) -> None:
    """Pull trials of one study from its chief at `oracle` (host:port) until the chief says the budget is spent.

    Raises:
        grpc.RpcError: the chief did not answer within `chief_timeout` seconds.
    """
    from ..engine.strategies import worker_env

    host, _, port = oracle.rpartition(":")
    os.environ.update(worker_env(tuner_id, host, int(port), chief_token(paths, create=False)))
    _, splits, recorder = _setup(cfg, strategy, seed, paths, data_dir=data_dir, device=device, threads=threads)
    from ..engine.ktbridge import set_chief_timeout

    set_chief_timeout(chief_timeout)
    tuner = _build_tuner(cfg, strategy, seed, paths.study(strategy, seed), recorder)
    recorder.search_starting()
    tuner.search(**_search_kwargs(cfg, splits))


class ParallelSearch(Protocol):
    """Runs a study's search with its trials in other processes (`distributed.ChiefSearch`, keras-tuner's chief).

    Given the study's tuner (reloaded, so its oracle resumes), the recorder that records trials whose worker died,
    and the study's files; returns (workers that took part, wall seconds of the search over every process).
    """

    def __call__(self, tuner: Any, recorder: StudyRecorder, files: StudyPaths) -> tuple[int, float]: ...


def run_study(cfg: RunConfig, strategy: str, seed: int, paths: RunPaths, *, data_dir: Path | None,
              device: str, threads: int, trials_per_process: int | None = None,
              parallel: ParallelSearch | None = None) -> StudyResult:
    """Search, refit the best configuration, evaluate on the test set, and write the study's records.

    With `trials_per_process`, the search stops after that many trials in this process by raising
    `ProcessRecycle`; calling again (in a new process) resumes it exactly. With `parallel`, trials run in other
    processes (keras-tuner workers) and this one serves the oracle, then refits and evaluates.

    Raises:
        StudyFailed: every trial failed, or the final fit diverged.
    """
    device_name, splits, recorder = _setup(cfg, strategy, seed, paths, data_dir=data_dir, device=device,
                                           threads=threads)
    tuner, workers, search_seconds = _search(cfg, strategy, seed, paths.study(strategy, seed), recorder, splits,
                                             parallel=parallel, trials_per_process=trials_per_process)
    trials, epochs = recorder.load(_ended_trials(tuner))
    best = choose(trials, strategy, seed)
    log.info("[%s seed%d] final fit of %s: %s, up to %d epochs%s", strategy, seed, best.trial_id,
             ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items()),
             cfg.final_epochs, f", {cfg.refits} times" if cfg.refits > 1 else "")
    refits = [_refit(cfg, best, splits, strategy=strategy, seed=seed, index=k) for k in range(cfg.refits)]
    result = study_result(cfg, strategy, seed, trials=trials, best=best, refits=refits,
                          search_seconds=search_seconds, device=device_name, threads=threads, workers=workers,
                          stop_reason=getattr(tuner.oracle, "stop_reason", ""))
    write_study(paths, result, trials, epochs)
    log.info("[%s seed%d] done: test accuracy %.4f (macro F1 %.4f), search %s, final fit %s", strategy, seed,
             result.test.accuracy, result.test.macro_f1, fmt_seconds(result.search_seconds),
             fmt_seconds(result.final_fit_seconds))
    return result


def _search(cfg: RunConfig, strategy: str, seed: int, files: StudyPaths, recorder: StudyRecorder, splits: Any, *,
            parallel: ParallelSearch | None, trials_per_process: int | None) -> tuple[Any, int, float | None]:
    """Run (or resume) the search; (tuner, workers that took part, the chief's wall seconds or None if serial)."""
    if parallel is None:
        tuner = open_tuner(cfg, strategy, seed, files, recorder, trials_per_process)
        recorder.search_starting()
        tuner.search(**_search_kwargs(cfg, splits))
        return tuner, 1, None
    tuner = open_tuner(cfg, strategy, seed, files, recorder, None)
    workers, seconds = parallel(tuner, recorder, files)
    return tuner, workers, seconds


def _ended_trials(tuner: Any) -> list[str]:
    import keras_tuner as kt

    return [t.trial_id for t in tuner.oracle.trials.values() if t.status != kt.engine.trial.TrialStatus.RUNNING]


def _refit(cfg: RunConfig, best: TrialRecord, splits: Any, *, strategy: str, seed: int, index: int) -> Refit:
    """Train the chosen configuration from scratch on the training split and evaluate it once on the test set.

    Refit 0 draws the seed every earlier run used; refits 1..K-1 draw their own, so that their spread measures
    what the initialisation alone changes (refit noise), apart from which configuration the search chose.

    Raises:
        StudyFailed: the refit diverged.
    """
    import keras

    from ..engine.metrics import TEST_BATCH_SIZE, score_predictions
    from ..engine.spaces import build_model
    from ..engine.strategies import stream_seed, trial_seed

    keras.utils.set_random_seed(trial_seed(stream_seed(cfg, strategy, seed), "final" if index == 0 else
                                           f"final-{index}"))
    model = build_model(cfg.space, best.params, cfg.space_fingerprint)
    label = "final fit" if cfg.refits == 1 else f"final fit {index + 1}/{cfg.refits}"
    callbacks = [keras.callbacks.TerminateOnNaN(),
                 keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=cfg.patience,
                                               restore_best_weights=True),
                 keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log.info(  # a CNN refit runs ~30 min
                     "[%s seed%d] %s epoch %d/%d val_acc %.4f", strategy, seed, label, epoch + 1, cfg.final_epochs,
                     (logs or {}).get("val_accuracy", float("nan"))))]
    if cfg.final_lr_decay < 1.0:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=cfg.final_lr_decay,
                                                           patience=cfg.lr_plateau_patience, min_lr=1e-6))
    start = time.perf_counter()
    history = model.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                        epochs=cfg.final_epochs, batch_size=cfg.batch_size, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    if not all(math.isfinite(v) for v in history.history["loss"]):
        raise StudyFailed(f"{strategy} seed {seed}: the {label} of {best.trial_id} diverged (its training loss "
                          "became NaN or infinite)")
    test_loss, _ = model.evaluate(splits.x_test, splits.y_test, batch_size=TEST_BATCH_SIZE, verbose=0)
    predictions = model.predict(splits.x_test, batch_size=TEST_BATCH_SIZE, verbose=0).argmax(axis=1)  # (n_test,)
    return Refit(list(history.history["val_accuracy"]), float(test_loss),
                  score_predictions(splits.y_test, predictions, splits.class_names), seconds)
