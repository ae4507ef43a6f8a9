"""Table builds and replays on a Dask cluster (`fmnist_bench.cluster`): the errors a user meets before any work, and,
on a loopback cluster of real `dask scheduler` and `dask worker` processes, results equal to local ones, a worker
killed mid-task, and workers that cannot do the work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from conftest import HANG_GUARD_SECONDS, wait_for_stopped, wait_until_no_process_mentions, with_fault
from fmnist_bench import cluster
from fmnist_bench.cli import main
from fmnist_bench import environment
from fmnist_bench.errors import ClusterError, ConfigError
from fmnist_bench.store import TablePaths
from fmnist_bench.tabular import build_table, user_spec
from fmnist_bench.tabular import run_replay
from fmnist_bench.tabular import config_key, read_curves
from test_replay import _cfg, _untimed, _write_table

UNTIMED = ("params", "seed", "loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy", "confusion")


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:  # bound and closed: nothing listens there afterwards
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- before any work ---------------------------------------------------------------------------------------------

def test_an_unreachable_scheduler_is_one_line_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cluster, "SCHEDULER_TIMEOUT_SECONDS", 2)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    code = main(["table", "build", "--sample", "2", "--tables-dir", str(tmp_path), "--scheduler", address])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"cannot reach the Dask scheduler at {address}" in err[0]
    assert not TablePaths(tmp_path / "ann-grid").partial(1).exists()  # nothing was trained


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'fmnist-bench\[dask\]'"):
        with cluster.connected("tcp://127.0.0.1:8786"):
            pass


@pytest.mark.parametrize("argv, words", [
    (["run", "--scheduler", "tcp://127.0.0.1:8786"], "live studies scale out with --workers"),
    (["run", "--replay", "--space", "ann-grid", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786"],
     "--jobs sets local processes"),
    (["table", "build", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786"], "--jobs and --data-dir apply"),
    (["table", "validate", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is a build option"),
])
def test_options_that_do_not_go_with_a_scheduler_are_one_line(argv: list[str], words: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


# ---- a loopback cluster ------------------------------------------------------------------------------------------

class LoopbackCluster:
    """A `dask scheduler` and `dask worker` processes on 127.0.0.1, as a user would start them; each in a session of
    its own, so that stopping it stops everything it started."""

    def __init__(self, folder: Path, tls: Path | None = None) -> None:
        """`tls`: a folder holding cert.pem and key.pem (self-signed, its own CA): every process then speaks TLS only,
        as `dask scheduler --protocol tls --tls-*` runs one."""
        self.folder = folder
        self.file = folder / "scheduler.json"
        self.processes: list[subprocess.Popen] = []
        self.tls_args = [] if tls is None else ["--tls-ca-file", str(tls / "cert.pem"), "--tls-cert",
                                                str(tls / "cert.pem"), "--tls-key", str(tls / "key.pem")]
        self.security = None if tls is None else _security(tls)
        self._start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     *(["--protocol", "tls"] if tls else []), *self.tls_args], os.environ)
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while not self.file.is_file():
            assert self.processes[0].poll() is None, "the scheduler exited"
            assert time.monotonic() < deadline, "the scheduler never wrote its address"
            time.sleep(0.05)
        self.address = json.loads(self.file.read_text())["address"]

    def _start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen([str(Path(sys.executable).with_name("dask")), *argv,
                                    "--scheduler-file", str(self.file)], env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=(self.folder / f"{argv[0]}.log").open("a"))
        self.processes.append(process)
        return process

    def add_worker(self, name: str, env: dict[str, str] | None = None, *, nanny: bool = True) -> subprocess.Popen:
        """A one-thread worker, joined before this returns: under a nanny as `dask worker` starts it by default,
        or without one (a killed worker then stays dead)."""
        from distributed import Client

        worker = self._start(["worker", "--nthreads", "1", "--nanny" if nanny else "--no-nanny", "--no-dashboard",
                              "--name", name, *self.tls_args], dict(env or os.environ))
        with Client(self.address, timeout="30s", security=self.security) as client:
            client.wait_for_workers(len([p for p in self.processes[1:] if p.poll() is None]),
                                    timeout=HANG_GUARD_SECONDS)
        return worker

    def stop_worker(self, worker: subprocess.Popen) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()

    def stop(self) -> list[int]:
        """Kill everything; return the pids of what the workers had started themselves (their task children)."""
        import psutil

        started = [child.pid for process in self.processes if process.poll() is None
                   for child in psutil.Process(process.pid).children(recursive=True)]
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return started


def _self_signed(folder: Path) -> Path:
    """A certificate for 127.0.0.1 that is its own CA, as openssl makes one."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    return folder


def _security(tls: Path) -> object:
    from distributed import Security

    return Security(tls_ca_file=str(tls / "cert.pem"), tls_client_cert=str(tls / "cert.pem"),
                    tls_client_key=str(tls / "key.pem"), require_encryption=True)


def _tls_environment(tls: Path) -> dict[str, str]:
    """Dask's own settings for a TLS client, as a user sets them (docs/scaling.md)."""
    return {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(tls / "cert.pem"),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(tls / "cert.pem"),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(tls / "key.pem")}


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[LoopbackCluster]:
    started = LoopbackCluster(tmp_path)
    try:
        yield started
    finally:
        children = started.stop()
        wait_until_no_process_mentions(str(started.file))  # no scheduler or worker left behind
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while [pid for pid in children if psutil_alive(pid)]:  # nor a worker's task child
            assert time.monotonic() < deadline, "a worker's task child outlived it"
            time.sleep(0.05)


def psutil_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _untimed_curves(folder: Path) -> list[dict]:
    return [{name: np.asarray(getattr(c, name)).tolist() if name not in ("params", "seed") else getattr(c, name)
             for name in UNTIMED} for c in sorted(read_curves(TablePaths(folder).curves(1)),
                                                   key=lambda c: config_key(c.params))]


@pytest.mark.slow
def test_a_table_of_a_users_grid_built_on_a_cluster_that_loses_a_worker_mid_task_equals_a_local_build(
        loopback: LoopbackCluster, user_files: tuple[str, str], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """A user's space file and .npz, read by the workers where the user wrote them. The worker dies holding a task
    and the only copy of the farm's scattered set-up (it was the only worker when the build began: CI once met this
    by chance, and every task was cancelled). The build sends the set-up again and finishes on the worker that
    joined since."""
    import threading

    spec = user_spec(*user_files)

    doomed = loopback.add_worker("doomed", with_fault("cluster-task", 1, "SIGSTOP", "self"), nanny=False)
    lines: list[str] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            build_table(spec, 1, tables_dir=tmp_path / "remote", data_dir=None, device="cpu", jobs=1, threads=1,
                        scheduler=loopback.address, progress=lines.append)
        except BaseException as exc:  # noqa: B036  reported by the main thread
            errors.append(exc)

    builder = threading.Thread(target=build)
    builder.start()
    wait_for_stopped(loopback.file, doomed)  # paused as it starts its first configuration
    loopback.add_worker("survivor")
    doomed.kill()
    builder.join(timeout=HANG_GUARD_SECONDS)
    assert not builder.is_alive() and not errors, errors
    assert doomed.wait() == -signal.SIGKILL
    assert "a Dask worker died holding the only copy of the set-up; sending it again (1 of at most 3)" in caplog.text
    build_table(spec, 1, tables_dir=tmp_path / "local", data_dir=None, device="cpu", jobs=2, threads=1,
                progress=lambda line: None)
    assert _untimed_curves(tmp_path / "remote" / spec.label) == _untimed_curves(tmp_path / "local" / spec.label)
    record = json.loads(TablePaths(tmp_path / "remote" / spec.label).build(1).read_text())
    assert record["scheduler"] == loopback.address and record["jobs"] is None
    assert f"the Dask cluster at {loopback.address}" in lines[0] and "4/4" in lines[-2]


@pytest.fixture
def tls_loopback(tmp_path: Path) -> Iterator[LoopbackCluster]:
    started = LoopbackCluster(tmp_path, tls=_self_signed(tmp_path / "tls"))
    try:
        yield started
    finally:
        started.stop()
        wait_until_no_process_mentions(str(started.file))


@pytest.mark.slow
def test_a_replay_on_a_tls_cluster_equals_a_local_one_and_a_client_without_the_certificate_is_refused(
        tls_loopback: LoopbackCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster speaks TLS only (`dask scheduler --protocol tls --tls-*`). The replay reaches it with Dask's own
    settings (DASK_DISTRIBUTED__COMM__TLS__*); without them, with another certificate, or over plain tcp://, a
    client gets one line and no work is sent."""
    assert tls_loopback.address.startswith("tls://127.0.0.1:")
    _write_table(tmp_path / "tables" / "ann-grid")
    tls_loopback.add_worker("a")
    tls_loopback.add_worker("b")
    cfg = _cfg(seeds=(1, 2))
    monkeypatch.setattr(cluster, "SCHEDULER_TIMEOUT_SECONDS", 5)
    with pytest.raises(ClusterError, match="name no certificate for this client"):
        with cluster.connected(tls_loopback.address):
            pass
    stranger = _self_signed(tmp_path / "stranger")
    for variable, value in _tls_environment(stranger).items():
        monkeypatch.setenv(variable, value)
    import dask

    dask.config.refresh()
    for address in (tls_loopback.address, tls_loopback.address.replace("tls://", "tcp://")):
        with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):
            with cluster.connected(address):
                pass
    for variable, value in _tls_environment(tmp_path / "tls").items():
        monkeypatch.setenv(variable, value)
    dask.config.refresh()
    local = run_replay(cfg, results_dir=tmp_path / "local", tables_dir=tmp_path / "tables")
    remote = run_replay(cfg, results_dir=tmp_path / "remote", tables_dir=tmp_path / "tables",
                        scheduler=tls_loopback.address)

    def studies(outcome) -> list[dict]:
        import gzip

        return [_untimed(line) for line in gzip.decompress(outcome.paths.studies_archive.read_bytes()).decode()
                .splitlines()]

    assert not local.failed and not remote.failed
    assert studies(remote) == studies(local) and len(studies(local)) == 6
    env = json.loads(remote.paths.env.read_text())
    assert env["replay_scheduler"] == tls_loopback.address and env["replay_jobs"] is None


@pytest.mark.slow
@pytest.mark.usefixtures("real_data_available")
def test_workers_that_cannot_do_the_work_are_named_in_one_line(loopback: LoopbackCluster, tmp_path: Path,
                                                              tiny_data_dir: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # another Keras backend: refused before its first task runs (under Keras 2, which has no JAX backend, the
    # worker cannot even say which backend it has, and that is the line)
    jax_worker = loopback.add_worker("on-jax", os.environ | {"KERAS_BACKEND": "jax"})
    _write_table(tmp_path / "tables" / "ann-grid")
    refusal = (" has keras_backend jax \\(this machine: tensorflow\\)" if environment.keras_major() >= 3
               else ": KERAS_BACKEND=jax needs Keras 3; this environment has Keras 2")
    with pytest.raises(ClusterError, match=r"Dask worker tcp://127\.0\.0\.1:\d+" + refusal):
        run_replay(_cfg(seeds=(1,)), results_dir=tmp_path / "r", tables_dir=tmp_path / "tables",
                   scheduler=loopback.address)
    loopback.stop_worker(jax_worker)
    # data that fails its checksums: the build stops in one line naming the worker; the command exits 2
    loopback.add_worker("bad-data", os.environ | {"FMNIST_DATA_DIR": str(tiny_data_dir)})
    capsys.readouterr()  # the replay's own progress lines, when an earlier test's main() left a log handler
    code = main(["-q", "table", "build", "--sample", "1", "--tables-dir", str(tmp_path / "t"), "--device", "cpu",
                 "--scheduler", loopback.address])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "Dask worker tcp://127.0.0.1:" in err[0] and "could not set up (DataError:" in err[0], err
    assert "md5" in err[0]


def test_a_worker_with_more_than_one_thread_is_refused(tmp_path: Path) -> None:
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as local:
        with pytest.raises(ClusterError, match=r"one task at a time .*\(2 threads\)"):
            with cluster.connected(local.scheduler_address):
                pass
