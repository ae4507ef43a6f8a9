"""The chief's fault handling on its own: a silent worker's trial is given up, recorded and ended; nothing hangs."""

from __future__ import annotations

import types

from fmnist_bench.orchestration.distributed import Chief


def _oracle(folder):  # type: ignore[no-untyped-def]
    """keras-tuner's own oracle, with a trial out to worker0 and worker1 known to it, as the chief's server leaves
    it (a keras-tuner upgrade that changes `ongoing_trials`, `tuner_ids` or `end_trial` fails here)."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.Choice("units", [8, 16, 32])
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=10, seed=1,
                                           hyperparameters=hp)
    oracle._set_project_dir(str(folder), "random-seed1")
    trial = oracle.create_trial("random-seed1.worker0")
    oracle.tuner_ids.add("random-seed1.worker1")
    return oracle, trial


def test_a_silent_worker_loses_its_trial_and_an_idle_silent_worker_is_forgotten(tmp_path) -> None:
    oracle, trial = _oracle(tmp_path)
    lost: list[tuple[str, str]] = []
    chief = Chief(oracle, tuner_prefix="random-seed1", token="t",
                  lose_trial=lambda t, why: lost.append((t.trial_id, why)), spawn=None, worker_timeout=10)
    servicer = types.SimpleNamespace(last_seen={"random-seed1.worker0": -100.0, "random-seed1.worker1": -100.0})
    chief.expire_silent(servicer)
    assert lost == [(trial.trial_id, "worker random-seed1.worker0 was silent for more than 10 s")]
    assert oracle.trials[trial.trial_id].status == "FAILED" and not oracle.ongoing_trials
    assert oracle.tuner_ids == set()  # the chief no longer waits for either worker
    servicer.stop_triggered = True
    assert chief.finished(servicer)


def test_a_worker_heard_from_recently_keeps_its_trial(tmp_path) -> None:
    import time

    oracle, trial = _oracle(tmp_path)
    chief = Chief(oracle, tuner_prefix="random-seed1", token="t", lose_trial=lambda t, why: None, spawn=None,
                  worker_timeout=10)
    servicer = types.SimpleNamespace(last_seen={"random-seed1.worker0": time.monotonic()}, stop_triggered=True)
    chief.expire_silent(servicer)
    assert oracle.ongoing_trials == {"random-seed1.worker0": trial} and trial.status == "RUNNING"
    assert not chief.finished(servicer)  # a trial is still out


def test_a_hand_started_worker_connects_to_the_address_it_was_given(tmp_path, monkeypatch, caplog) -> None:
    """`worker --oracle HOST:PORT` is how this machine reaches the chief (a forwarded port may differ from the one
    the chief bound): the worker uses it, and says so when the chief announced another port."""
    import logging

    from fmnist_bench.orchestration import distributed
    from fmnist_bench.store import RunPaths, atomic_write_json

    announce = RunPaths(tmp_path / "run").chief_announcement
    announce.parent.mkdir(parents=True)
    study = {"study": "random-seed1", "strategy": "random", "seed": 1, "port": 50051, "pid": 1}
    atomic_write_json(announce, "chief", study)
    jobs = []

    class FakeChild:  # the worker process: records its job, then the chief announces the end of the run
        def __init__(self, job) -> None:
            jobs.append(job)

        def wait(self) -> int:
            atomic_write_json(announce, "chief", {"state": "done"})
            return 0

    monkeypatch.setattr(distributed, "Child", FakeChild)
    with caplog.at_level(logging.WARNING):
        distributed.join_chief(tmp_path / "run", "gateway:6000", device="cpu", threads=1, data_dir=None,
                               chief_timeout=5)
    assert [job.oracle for job in jobs] == ["gateway:6000"]
    assert "listens on port 50051; connecting to gateway:6000 as given" in caplog.text


def test_the_chief_refuses_a_caller_without_the_runs_token_and_serves_one_with_it(
        tmp_path, monkeypatch, caplog) -> None:
    """On loopback, keras-tuner's own servicer behind the chief's token check: a client without the token (keras-tuner's
    own channel, what anyone who reaches the port could run) is refused in one log line and changes nothing; one with
    a wrong token is refused; a worker's client, which presents the token, gets a trial."""
    import logging
    from concurrent import futures

    import grpc
    import pytest

    from fmnist_bench.engine.ktbridge import add_oracle_servicer, oracle_servicer_class, patient_client
    from fmnist_bench.orchestration.distributed import token_check

    oracle, _ = _oracle(tmp_path)
    before = set(oracle.trials)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[token_check("s3cret", "study")])
    add_oracle_servicer(oracle_servicer_class()(oracle), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "random-seed1.worker1")
    try:
        stranger = patient_client(types.SimpleNamespace(oracle=types.SimpleNamespace(_oracle=oracle)), 0.0, None)
        with caplog.at_level(logging.WARNING), pytest.raises(grpc.RpcError) as refused:
            stranger.create_trial("random-seed1.worker9")
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        (line,) = [r.getMessage() for r in caplog.records if "refused a call" in r.getMessage()]
        assert "did not present this run's token" in line
        assert set(oracle.trials) == before and "random-seed1.worker9" not in oracle.tuner_ids

        wrong = patient_client(types.SimpleNamespace(oracle=types.SimpleNamespace(_oracle=oracle)), 0.0, "guess")
        with pytest.raises(grpc.RpcError):
            wrong.create_trial("random-seed1.worker1")
        worker = patient_client(types.SimpleNamespace(oracle=types.SimpleNamespace(_oracle=oracle)), 0.0, "s3cret")
        trial = worker.create_trial("random-seed1.worker1")
        assert trial.status == "RUNNING" and oracle.ongoing_trials["random-seed1.worker1"].trial_id == trial.trial_id
    finally:
        server.stop(grace=None)
