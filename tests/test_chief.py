"""The chief's fault handling on its own: a silent worker's trial is given up, recorded and ended; nothing hangs."""

from __future__ import annotations

import types

from fmnist_bench.orchestration.distributed import Chief


class _Oracle:
    def __init__(self) -> None:
        self.trial = types.SimpleNamespace(trial_id="03", status="RUNNING", message=None)
        self.ongoing_trials = {"random-seed1.worker0": self.trial}
        self.tuner_ids = {"random-seed1.worker0", "random-seed1.worker1"}
        self.ended: list[object] = []

    def end_trial(self, trial: object) -> None:
        self.ended.append(trial)
        self.ongoing_trials = {k: v for k, v in self.ongoing_trials.items() if v is not trial}


def test_a_silent_worker_loses_its_trial_and_an_idle_silent_worker_is_forgotten() -> None:
    oracle, lost = _Oracle(), []
    chief = Chief(oracle, tuner_prefix="random-seed1", lose_trial=lambda t, why: lost.append((t.trial_id, why)),
                  spawn=None, worker_timeout=10)
    servicer = types.SimpleNamespace(last_seen={"random-seed1.worker0": -100.0, "random-seed1.worker1": -100.0})
    chief._expire_silent(servicer)
    assert lost == [("03", "worker random-seed1.worker0 was silent for more than 10 s")]
    assert oracle.ended == [oracle.trial] and oracle.trial.status == "FAILED" and not oracle.ongoing_trials
    assert oracle.tuner_ids == set()  # the chief no longer waits for either worker
    servicer.stop_triggered = True
    assert chief._finished(servicer)


def test_a_worker_heard_from_recently_keeps_its_trial() -> None:
    import time

    oracle = _Oracle()
    chief = Chief(oracle, tuner_prefix="random-seed1", lose_trial=lambda t, why: None, spawn=None,
                  worker_timeout=10)
    servicer = types.SimpleNamespace(last_seen={"random-seed1.worker0": time.monotonic()}, stop_triggered=True)
    chief._expire_silent(servicer)
    assert oracle.ongoing_trials and not oracle.ended
    assert not chief._finished(servicer)  # a trial is still out
