"""keras-tuner behind one door: every use of its internals (private names, `keras_tuner.src`) is in this module.

The harness needs a few things keras-tuner's public API has no hook for: atomic state files, an exact resume of
BayesianOptimization, a worker that waits politely, a chief that notes heartbeats, replays that keep trials in
memory. Each function here says which internal it touches and why. Upgrading keras-tuner is a change to this file:
`TESTED` is the range the tests ran on, and importing this module under another version fails in one line.
`tests/test_architecture.py` fails if any other module names one of `PRIVATE_NAMES` or imports `keras_tuner.src`.
"""

from __future__ import annotations

from typing import Any, Callable

import keras_tuner as kt

from ..config import in_tested_range
from ..errors import ConfigError

__all__ = ["TOKEN_HEADER", "TOKEN_VARIABLE", "PRIVATE_NAMES", "TESTED", "add_oracle_servicer", "check_version",
           "clear_trial_metrics", "in_memory",
           "is_worker", "oracle_servicer_class", "patient_client", "random_values", "reseed_bayesian",
           "quiet_failed_trials", "route_state_files", "set_chief_timeout", "settle_reloaded_trials",
           "stopped_trial_response"]

TESTED = ("1.4.7", "1.5")  # from the first (inclusive) to the second (exclusive): pyproject.toml pins the same
# What this module reaches into (attributes with their dot); no other module may name them (tests/test_architecture.py)
PRIVATE_NAMES = ("keras_tuner.src", ".save_json", "._random_state", "._is_worker", "._oracle", "._save_trial",
                 "._display", ".TIMEOUT", ".metrics.metrics", "._random_values", "._retry_queue", "._run_times")


def check_version(version: str) -> None:
    """Raises ConfigError: keras-tuner `version` is outside the tested range."""
    low, high = TESTED
    if not in_tested_range(version, TESTED):
        raise ConfigError(f"keras-tuner {version} is installed; fmnist-bench is tested with >={low},<{high} (its "
                          "internals are used in fmnist_bench/engine/ktbridge.py): pip install "
                          f"'keras-tuner>={low},<{high}'")


check_version(kt.__version__)


def route_state_files(save_json: Callable[[str, Any], str]) -> None:
    """Write every oracle, trial and tuner state file through `save_json(path, obj)`: keras-tuner writes them all
    with `keras_tuner.src.utils.save_json` (through `Stateful.save`), in place, so a kill mid-write leaves a cut-off
    file. Called by a study or worker process when it sets up, never at import."""
    from keras_tuner.src import utils

    utils.save_json = save_json


def quiet_failed_trials() -> None:
    """keras-tuner prints the traceback of every failed trial to stderr (`config.DEBUG` is True by default, read in
    `BaseTuner._try_run_and_update_trial`). The harness records a failed trial's reason itself, from
    `trial.message`, and reports a run's failure in one line: with the printing left on, a trial that failed while
    a full disk stopped its worker put a traceback among the run's output. Called at a process's set-up."""
    from keras_tuner.src import config

    config.DEBUG = False


def forget_round_entry(oracle: Any, trial_id: str) -> None:
    """Take `trial_id` back out of Hyperband's rounds (`HyperbandOracle._brackets`), where its `populate_space`
    enters a trial it proposes before the harness's budget refuses it: left there, the next request of another
    worker looks the never-created trial up and fails with a KeyError."""
    for bracket in oracle._brackets:
        for round_info in bracket["rounds"]:
            round_info[:] = [info for info in round_info if info["id"] != trial_id]


def settle_reloaded_trials(oracle: Any) -> None:
    """Make a reloaded oracle agree with what its saved state says happened, as an unbroken search's would.

    keras-tuner writes a trial's file, then its own state (`Oracle.create_trial`, `Oracle.end_trial`), and drops
    an ended trial from `ongoing_trials` only after saving. A kill between two writes, or between a trial's end and
    the next trial's start, left on reload (1) a trial file the saved state never heard of: created, never run,
    RUNNING forever, yet counted by the epoch budget (a chief killed under load lost one of its six trials this
    way); (2) an ended trial still listed as ongoing, which `Oracle.reload` puts in `_retry_queue`, so it was
    trained again. The first is forgotten: the saved random state proposes its values again, under its id. The
    second stays ended, with the bookkeeping `end_trial` would have saved.
    """
    started = set(oracle.start_order)
    for trial_id in [t for t in oracle.trials if t not in started]:
        del oracle.trials[trial_id]
    ended = (kt.engine.trial.TrialStatus.COMPLETED, kt.engine.trial.TrialStatus.FAILED)  # INVALID may be retried
    for trial_id in [t for t in oracle._retry_queue if oracle.trials[t].status in ended]:
        oracle._retry_queue.remove(trial_id)
        if trial_id not in oracle.end_order:
            oracle.end_order.append(trial_id)
            oracle._run_times[trial_id] += 1


def reseed_bayesian(oracle: Any, state: Any) -> None:
    """BayesianOptimizationOracle draws from `_random_state`, which it never saves: a resumed study re-derives it."""
    oracle._random_state = state


def random_values(oracle: Any) -> dict[str, Any] | None:
    """The oracle's next random configuration, as RandomSearch draws it (`Oracle._random_values`: from its seed
    state, which keras-tuner saves, skipping configurations already tried); None when only repeats are left."""
    values: dict[str, Any] | None = oracle._random_values()
    return values


def is_worker(tuner: Any) -> bool:
    """Whether the tuner runs as a keras-tuner worker of a chief (KERASTUNER_* variables set)."""
    return bool(tuner._is_worker())


TOKEN_HEADER = "fmnist-bench-token"  # gRPC metadata key of the run's secret, which the chief checks on every call
TOKEN_VARIABLE = "FMNIST_BENCH_CHIEF_TOKEN"  # how a worker process is given it


def patient_client(tuner: Any, pause_seconds: float, token: str | None) -> Any:
    """The worker tuner's oracle client, but pausing `pause_seconds` when the chief answers IDLE (keras-tuner's own
    client asks again at once, and a worker waiting for Hyperband's round to finish would spin a core), and
    presenting the run's `token` with every call (keras-tuner's client presents nothing)."""
    import collections
    import os
    import time

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_client import OracleClient

    class Details(collections.namedtuple("Details", ("method", "timeout", "metadata", "credentials",
                                                     "wait_for_ready", "compression")),
                  grpc.ClientCallDetails):
        pass

    class WithToken(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            metadata = [*(details.metadata or ()), (TOKEN_HEADER, token)]
            return continuation(Details(details.method, details.timeout, metadata, details.credentials,
                                        details.wait_for_ready, details.compression), request)

    class PatientClient(OracleClient):
        def __init__(self, oracle: Any) -> None:
            super().__init__(oracle)
            if token is not None:
                address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
                channel = grpc.intercept_channel(grpc.insecure_channel(address), WithToken())
                self.stub = protos.get_service_grpc().OracleStub(channel)

        def create_trial(self, tuner_id: str) -> Any:
            trial = super().create_trial(tuner_id)
            if trial.status == kt.engine.trial.TrialStatus.IDLE:
                time.sleep(pause_seconds)
            return trial

    return PatientClient(tuner.oracle._oracle)


def clear_trial_metrics(trial: Any) -> None:
    """A trial retried after a resume still holds the metrics of its interrupted run; it must start clean."""
    trial.metrics.metrics.clear()


def set_chief_timeout(seconds: float) -> None:
    """How long a worker's gRPC calls wait for the chief (keras-tuner's module-level `TIMEOUT`)."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


def oracle_servicer_class() -> type:
    """keras-tuner's gRPC servicer of an oracle, for the chief to extend."""
    from keras_tuner.src.distribute import oracle_chief

    return oracle_chief.OracleServicer


def add_oracle_servicer(servicer: Any, server: Any) -> None:
    from keras_tuner.src import protos

    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)


def stopped_trial_response(oracle: Any) -> Any:
    """The chief's answer that tells a worker of another study to stop."""
    from keras_tuner.src import protos

    stopped = kt.engine.trial.Trial(oracle.get_space(), status=kt.engine.trial.TrialStatus.STOPPED)
    return protos.get_service().CreateTrialResponse(trial=stopped.to_proto())


def in_memory(oracle: Any) -> None:
    """An oracle that keeps its trials in memory and prints nothing: a replay runs hundreds of studies a minute,
    and keras-tuner would write each trial (`_save_trial`) and itself (`save`) to disk."""
    oracle._save_trial = lambda trial: None
    oracle.save = lambda: None
    oracle.verbose = 0
