"""Parallel trials inside one study on keras-tuner's own chief/worker engine, with the faults it leaves open handled.

keras-tuner's chief hosts the oracle over gRPC and workers pull trials from it (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`). On its own it has three gaps this module closes:
- a worker that dies keeps its trial "ongoing" and the chief waits for it forever: here the chief notices (process
  exit for local workers, a heartbeat timeout for any worker), records the trial as FAILED with the reason, and
  starts a replacement local worker;
- workers wait up to an hour for a chief that died: here a local worker exits when its parent does, and any worker
  gives up after `chief_timeout` seconds without an answer;
- the chief picks its port before it knows one is free: here gRPC binds port 0 and reports the port it got.

Everything a study writes still goes through the harness's recorder, so a distributed study leaves the same files as
a serial one; the workers and the chief share the run folder (one machine, or a shared file system).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import socket
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Callable

from ..errors import ResultsError, StudyFailed
from ..processes import POLL_SECONDS, Child, StudyJob, Supervisor, WorkerJob
from ..records import study_name
from ..store import RunPaths, StudyPaths, atomic_write_json, chief_token, read_json

__all__ = ["Chief", "ChiefSearch", "follow_chief", "join_chief"]

log = logging.getLogger(__name__)


# keras-tuner's chief calls: every one may make the oracle write its state to the results folder
_ORACLE_CALLS = ("GetSpace", "UpdateSpace", "CreateTrial", "UpdateTrial", "EndTrial", "GetTrial", "GetBestTrials")


def _keeping_write_failures(call: Callable[..., Any]) -> Callable[..., Any]:
    """A chief call whose oracle write fails (full disk) keeps the one-line error for `Chief.serve` and aborts the
    call; otherwise gRPC logs the whole traceback ("Exception calling application") before the run's one line."""
    @functools.wraps(call)
    def guarded(self: Any, request: Any, context: Any) -> Any:
        try:
            return call(self, request, context)
        except ResultsError as exc:
            import grpc

            self.failed_write = self.failed_write or exc
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
    return guarded


def token_check(token: str, tuner_prefix: str) -> Any:
    """A gRPC server interceptor that lets through only calls presenting the run's token: keras-tuner's chief serves
    anyone who reaches its port, who could create trials or report scores into the study. Each refused caller is
    named in one log line."""
    import hmac

    import grpc

    from ..engine.ktbridge import TOKEN_HEADER

    refused: set[str] = set()

    def refuse(request: Any, context: Any) -> Any:
        if context.peer() not in refused:
            refused.add(context.peer())
            log.warning("[%s] refused a call from %s: it did not present this run's token (.work/chief.token)",
                        tuner_prefix, context.peer())
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "this run's chief token is required (.work/chief.token)")

    class TokenCheck(grpc.ServerInterceptor):
        def intercept_service(self, continuation: Any, details: Any) -> Any:
            given = dict(details.invocation_metadata or ()).get(TOKEN_HEADER, "")
            if hmac.compare_digest(str(given).encode(), token.encode()):
                return continuation(details)
            return grpc.unary_unary_rpc_method_handler(refuse)  # keras-tuner's oracle calls are all unary

    return TokenCheck()


def _servicer_class() -> type:
    from ..engine.ktbridge import oracle_servicer_class

    class HeartbeatServicer(oracle_servicer_class()):  # type: ignore[misc]  # a class known only at run time
        """keras-tuner's servicer, noting when each worker was last heard from and refusing other studies' workers;
        the first failed write of the oracle's state is kept in `failed_write`."""

        def __init__(self, oracle: Any, tuner_prefix: str) -> None:
            super().__init__(oracle)
            self.tuner_prefix = tuner_prefix
            self.last_seen: dict[str, float] = {}
            self.failed_write: ResultsError | None = None

        def _seen_trial(self, trial_id: str) -> None:
            for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
                if trial.trial_id == trial_id:
                    self.last_seen[tuner_id] = time.monotonic()

        def CreateTrial(self, request: Any, context: Any) -> Any:
            if not request.tuner_id.startswith(self.tuner_prefix + "."):
                # A worker of the previous study reconnected to this one: tell it to stop instead of mixing studies.
                from ..engine.ktbridge import stopped_trial_response

                return stopped_trial_response(self.oracle)
            self.last_seen[request.tuner_id] = time.monotonic()
            return super().CreateTrial(request, context)

        def GetTrial(self, request: Any, context: Any) -> Any:  # workers call it once per epoch: the heartbeat
            self._seen_trial(request.trial_id)
            return super().GetTrial(request, context)

        def UpdateTrial(self, request: Any, context: Any) -> Any:
            self._seen_trial(request.trial_id)
            return super().UpdateTrial(request, context)

    for name in _ORACLE_CALLS:
        setattr(HeartbeatServicer, name, _keeping_write_failures(getattr(HeartbeatServicer, name)))
    return HeartbeatServicer


def follow_chief(announce: Path, run_study_worker: Callable[[dict[str, Any]], str | None], *,
                 wait_seconds: float) -> None:
    """A hand-started worker's life: join each study the chief announces in the run folder, until it says done.

    `run_study_worker` runs one study's worker (in a fresh process) and returns None, or what made it fail.

    Raises:
        StudyFailed: no study was announced within `wait_seconds`, or a study's worker failed.
    """
    joined: set[str] = set()
    idle_since = time.monotonic()
    while True:
        document = read_json(announce, "chief") if announce.is_file() else {}
        if document.get("state") == "done":
            return
        study = document.get("study")
        if study and study not in joined:
            joined.add(study)
            log.info("joining study %s (chief pid %s, port %s)", study, document["pid"], document["port"])
            failure = run_study_worker(document)
            if failure is not None:
                raise StudyFailed(f"the worker of study {study} failed: {failure}")
            idle_since = time.monotonic()
            continue
        if time.monotonic() - idle_since > wait_seconds:
            raise StudyFailed(f"no new study announced in {announce} for {wait_seconds:.0f} s; is the chief running "
                              "with this --run-dir?")
        time.sleep(POLL_SECONDS * 4)


def join_chief(run_dir: Path, oracle: str, *, device: str, threads: int, data_dir: Path | None,
               chief_timeout: float) -> None:
    """A worker started by hand: run each study the chief announces in `run_dir`, in a fresh process each, until
    the chief announces the end of the run. The worker may start before the chief: it waits up to `chief_timeout`.

    Raises:
        StudyFailed: no study was announced in time, or a study's worker failed.
    """
    host, _, port = oracle.rpartition(":")

    def join(study: dict[str, Any]) -> str | None:
        # The address the user gave is the one this machine reaches the chief at (a forwarded port may differ from
        # the one the chief bound); a mismatch is said once per study, since it is usually a typo.
        if int(port) != int(study["port"]):
            log.warning("the chief of study %s listens on port %s; connecting to %s as given (--oracle)",
                        study["study"], study["port"], oracle)
        child = Child(WorkerJob(run_dir, study["strategy"], study["seed"],
                                tuner_id=f"{study['study']}.{socket.gethostname()}-{os.getpid()}",
                                oracle=oracle, device=device, threads=threads, data_dir=data_dir,
                                chief_timeout=chief_timeout, parent_pid=os.getpid(),
                                log_level=logging.getLogger().getEffectiveLevel()))
        return None if child.wait() == 0 else child.describe_exit()

    follow_chief(RunPaths(run_dir).chief_announcement, join, wait_seconds=chief_timeout)


@dataclasses.dataclass(frozen=True)
class ChiefSearch:
    """The search of the study `job` served as keras-tuner's chief (`study.ParallelSearch`): its own local workers
    and/or workers started by hand, as `job.serving` says; the search's wall clock is summed over resumes."""

    job: StudyJob

    def __call__(self, tuner: Any, recorder: Any, files: StudyPaths) -> tuple[int, float]:
        job, serving = self.job, self.job.serving
        assert serving is not None
        worker_threads = max(1, job.threads // max(1, serving.local_workers))

        def spawn(tuner_id: str, port: int) -> Child:
            return Child(WorkerJob(job.run_dir, job.strategy, job.seed, tuner_id=tuner_id, oracle=f"127.0.0.1:{port}",
                                   device=job.device, threads=worker_threads, data_dir=job.data_dir,
                                   parent_pid=os.getpid(), log_level=job.log_level))

        tuner.save()
        chief = Chief(tuner.oracle, tuner_prefix=study_name(job.strategy, job.seed),
                      token=chief_token(RunPaths(job.run_dir), create=True), lose_trial=recorder.trial_lost,
                      bind=serving.bind, port=serving.port, spawn=spawn if serving.local_workers else None,
                      local_workers=serving.local_workers, worker_timeout=serving.worker_timeout,
                      on_listen=self._announce if serving.announce else None)
        spent = read_json(files.search_clock, "clock")["seconds"] if files.search_clock.is_file() else 0.0
        start = time.perf_counter()
        try:
            workers = chief.serve()
        except BaseException:  # interrupted or failed: keep the clock if the disk lets us, and the first error
            with contextlib.suppress(ResultsError):
                atomic_write_json(files.search_clock, "clock", {"seconds": spent + time.perf_counter() - start})
            raise
        spent += time.perf_counter() - start
        atomic_write_json(files.search_clock, "clock", {"seconds": spent})
        return workers, spent

    def _announce(self, port: int) -> None:
        """Tell workers started by hand which study the chief serves now (they share the run folder)."""
        assert self.job.serving is not None and self.job.serving.announce is not None
        atomic_write_json(self.job.serving.announce, "chief", {
            "study": study_name(self.job.strategy, self.job.seed), "strategy": self.job.strategy,
            "seed": self.job.seed, "port": port, "pid": os.getpid()})


class Chief:
    """Serve one study's oracle until its budget is spent and every trial handed out has ended.

    Args:
        oracle: the study's oracle (from the chief's own tuner, so it was reloaded from the work folder on resume).
        tuner_prefix: worker tuner ids must start with it (the study's name), which keeps studies apart.
        token: the run's secret (`store.chief_token`); a call that does not present it is refused.
        lose_trial: called with (trial, reason) to record a trial whose worker died, before it is ended as FAILED.
        spawn: starts a local worker given (tuner_id, port); None when all workers are started by hand.
        local_workers: how many local workers to keep running.
        worker_timeout: seconds without a call from a worker before its trial is given up.
        on_listen: called with the bound port once the server accepts calls (to tell workers started by hand).
    """

    def __init__(self, oracle: Any, *, tuner_prefix: str, token: str, lose_trial: Callable[[Any, str], None],
                 bind: str = "127.0.0.1", port: int = 0, spawn: Callable[[str, int], Child] | None,
                 local_workers: int = 0, worker_timeout: float = 900.0,
                 on_listen: Callable[[int], None] | None = None) -> None:
        self.oracle = oracle
        self.tuner_prefix = tuner_prefix
        self.token = token
        self.lose_trial = lose_trial
        self.bind, self.port = bind, port
        self.spawn = spawn
        self.local_workers = local_workers
        self.worker_timeout = worker_timeout
        self.on_listen = on_listen
        self.workers: Supervisor[str] = Supervisor()  # local worker processes by tuner id
        self.tuner_ids_seen: set[str] = set()
        self._restarts_left = local_workers  # a worker that keeps crashing must not loop forever
        self._next_id = 0

    def serve(self) -> int:
        """Run the search; return the number of workers that took part.

        Raises:
            StudyFailed: every local worker died before the budget was spent.
            ResultsError: a worker could not write to the results folder (disk full, permissions).
        """
        import grpc

        from ..engine.ktbridge import add_oracle_servicer

        self.oracle.verbose = 0
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                             interceptors=[token_check(self.token, self.tuner_prefix)])
        servicer = _servicer_class()(self.oracle, self.tuner_prefix)
        add_oracle_servicer(servicer, server)
        address = f"{self.bind}:{self.port}"
        port = server.add_insecure_port(address)
        if port == 0:
            raise StudyFailed(f"cannot listen on {address} (port in use or address not on this host)")
        server.start()
        self.port = port
        log.info("[%s] chief listening on %s:%d", self.tuner_prefix, self.bind, port)
        if self.on_listen is not None:
            self.on_listen(port)
        # a worker that cannot write stops the others and the study (Supervisor.ended); any way out stops them
        try:
            with self.workers:
                for _ in range(self.local_workers):
                    self._start_worker()
                while not self.finished(servicer):
                    ended = self.workers.ended(lambda tuner_id: f"worker {tuner_id}")
                    if servicer.failed_write is not None:  # the oracle's own state could not be saved: stop
                        raise servicer.failed_write
                    self._replace_crashed(ended)
                    self.expire_silent(servicer)
                    self.tuner_ids_seen |= set(servicer.last_seen)
        finally:
            server.stop(grace=1).wait()
        return len(self.tuner_ids_seen)

    def finished(self, servicer: Any) -> bool:
        """Whether the study is over: the budget is spent and no trial is out (and, without local workers, no
        hand-started worker is still registered). Raises StudyFailed when every local worker died before that."""
        if self.workers:
            return False
        if servicer.stop_triggered and not self.oracle.ongoing_trials:
            return self.spawn is not None or not self.oracle.tuner_ids
        if self.spawn is not None:  # no local worker left, none could be restarted, and the budget is not spent
            raise StudyFailed(f"{self.tuner_prefix}: every local worker died before the budget was spent "
                              "(see their messages above)")
        return False

    def _start_worker(self) -> None:
        assert self.spawn is not None
        tuner_id = f"{self.tuner_prefix}.worker{self._next_id}"
        self._next_id += 1
        self.workers.start(tuner_id, self.spawn(tuner_id, self.port))

    def _replace_crashed(self, ended: list[tuple[str, Child, int]]) -> None:
        for tuner_id, _, code in ended:
            self.oracle.tuner_ids.discard(tuner_id)
            if code != 0:
                self._give_up(tuner_id, f"worker {tuner_id} exited with code {code} during the trial")
                if self._restarts_left:
                    self._restarts_left -= 1
                    log.warning("[%s] worker %s exited with code %d; starting a replacement", self.tuner_prefix,
                                tuner_id, code)
                    self._start_worker()

    def expire_silent(self, servicer: Any) -> None:
        """Give up the trial of a worker not heard from for `worker_timeout` (a hung or vanished process), and stop
        waiting for an idle worker that went silent."""
        now = time.monotonic()
        for tuner_id in list(self.oracle.ongoing_trials):
            if now - servicer.last_seen.get(tuner_id, now) > self.worker_timeout:
                log.warning("[%s] no word from %s for %.0f s; giving up its trial", self.tuner_prefix, tuner_id,
                            self.worker_timeout)
                self._give_up(tuner_id, f"worker {tuner_id} was silent for more than {self.worker_timeout:.0f} s")
                self.oracle.tuner_ids.discard(tuner_id)
                servicer.last_seen.pop(tuner_id, None)
                if tuner_id in self.workers.running:
                    self.workers.running[tuner_id].kill()  # hung: reaped (and replaced) on the next poll
        for tuner_id in list(self.oracle.tuner_ids):  # a worker that died between trials would be waited for
            if now - servicer.last_seen.get(tuner_id, now) > self.worker_timeout:
                self.oracle.tuner_ids.discard(tuner_id)

    def _give_up(self, tuner_id: str, reason: str) -> None:
        import keras_tuner as kt

        trial = self.oracle.ongoing_trials.get(tuner_id)
        if trial is None:
            return
        log.warning("[%s] trial %s marked FAILED: %s", self.tuner_prefix, trial.trial_id, reason)
        self.lose_trial(trial, reason)
        trial.status = kt.engine.trial.TrialStatus.FAILED
        trial.message = reason
        self.oracle.end_trial(trial)  # also drops it from ongoing_trials and saves the oracle
