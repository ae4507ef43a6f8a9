"""Studies on keras-tuner's chief/worker engine, on loopback with the real-data smoke subset: results, faults, no
orphans."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HANG_GUARD_SECONDS, child_processes, processes_mentioning, wait_until_no_process_mentions, \
    with_fault
from fmnist_bench.config import PRESETS, make_config

pytestmark = [pytest.mark.usefixtures("real_data_available"), pytest.mark.slow, pytest.mark.timing]
CLI = [sys.executable, "-m", "fmnist_bench"]


def _trials(study_dir: Path) -> list[dict[str, str]]:
    with (study_dir / "trials.csv").open() as handle:
        return list(csv.DictReader(handle))


def _scores(study_dir: Path) -> list[tuple[str, str, str]]:
    return [(t["trial_id"], t["status"], t["score"]) for t in _trials(study_dir)]


def test_two_local_workers_give_the_serial_random_search_and_leave_no_process(tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    for results, extra in ((serial, []), (parallel, ["--workers", "2"])):
        proc = subprocess.run([*CLI, "run", "--preset", "smoke", "--strategies", "random", "--results-dir",
                               str(results), *extra], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "chief listening on 127.0.0.1:" in proc.stderr and "Traceback" not in proc.stderr
    run_id = make_config("smoke", strategies=("random",), workers=2).run_id
    assert run_id != make_config("smoke", strategies=("random",)).run_id  # parallel runs never resume serial ones
    study_dir = parallel / "runs" / run_id / "studies" / "random-seed1"
    study = json.loads((study_dir / "study.json").read_text())
    assert study["workers"] == 2
    # RandomSearch's choices do not depend on which trial ends first, and trials are seeded by id: same trials.
    serial_dir = serial / "runs" / make_config("smoke", strategies=("random",)).run_id / "studies" / "random-seed1"
    assert _scores(study_dir) == _scores(serial_dir)
    assert re.search(rf"\[{run_id}\]\(runs/{run_id}/summary.md\) +\| 2 workers +\|",
                     (parallel / "LEADERBOARD.md").read_text())  # the leaderboard says how the run was made
    assert processes_mentioning(str(parallel)) == []


def test_a_killed_worker_fails_its_trial_is_replaced_and_the_study_ends(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / make_config("smoke", strategies=("random",), budget_epochs=12, workers=2).run_id
    run = subprocess.Popen([*CLI, "run", "--preset", "smoke", "--strategies", "random", "--budget-epochs", "12",
                            "--workers", "2", "--results-dir", str(tmp_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = run_dir / ".work" / "random-seed1" / "records"
    tuner = run_dir / ".work" / "random-seed1" / "tuner"
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    # Kill worker0 once a trial has ended and both workers hold a trial (one more trial folder than records + 1).
    while time.monotonic() < deadline and run.poll() is None:
        ended = len(list(records.glob("trial_*.json"))) if records.is_dir() else 0
        handed_out = len(list(tuner.glob("trial_*"))) if tuner.is_dir() else 0
        victims = processes_mentioning("random-seed1.worker0")
        if ended >= 1 and handed_out >= ended + 2 and victims:
            os.kill(victims[0], signal.SIGKILL)
            break
        time.sleep(0.05)
    else:
        run.kill()
        pytest.fail("the workers never both held a trial")
    try:
        out, err = run.communicate(timeout=600)
    finally:
        run.kill()
    assert run.returncode == 0, err[-3000:]
    assert "worker random-seed1.worker0 exited with code -9" in err and "starting a replacement" in err
    trials = _trials(run_dir / "studies" / "random-seed1")
    assert len(trials) == 6  # 12 epochs / 2 per trial: the budget is still spent in full
    lost = [t for t in trials if t["status"] == "FAILED"]
    assert len(lost) == 1 and "worker0 exited with code -9" in lost[0]["reason"]
    assert processes_mentioning(str(tmp_path)) == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_chief_and_hand_started_worker_finish_a_run_and_both_exit(tmp_path: Path) -> None:
    cfg = PRESETS["smoke"].replace(strategies=("random", "hyperband"))
    run_dir = tmp_path / "runs" / cfg.run_id
    for _ in range(3):  # a port found free can be taken before the chief binds it: then try another
        port = _free_port()
        # The worker starts first: it must wait for the chief rather than fail.
        worker = subprocess.Popen([*CLI, "worker", "--oracle", f"127.0.0.1:{port}", "--run-dir", str(run_dir),
                                   "--threads", "1", "--chief-timeout", "120"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        chief = subprocess.Popen([*CLI, "chief", "--preset", "smoke", "--strategies", "random,hyperband",
                                  "--workers", "1", "--port", str(port), "--results-dir", str(tmp_path)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            chief_out, chief_err = chief.communicate(timeout=600)
            if f"cannot listen on 127.0.0.1:{port}" in chief_err:
                continue
            _, worker_err = worker.communicate(timeout=120)
            break
        finally:
            for process in (chief, worker):
                process.kill()
                process.wait()
    else:
        pytest.fail("three ports found free were taken before the chief could bind them")
    assert chief.returncode == 0, chief_err[-3000:]
    assert worker.returncode == 0, worker_err[-3000:]
    assert f"--run-dir {run_dir.resolve()}" in chief_err  # tells the user how to start workers
    assert "joining study random-seed1" in worker_err and "joining study hyperband-seed1" in worker_err
    for study in ("random-seed1", "hyperband-seed1"):
        result = json.loads((run_dir / "studies" / study / "study.json").read_text())
        assert result["workers"] == 1 and result["trials"] == 3
    assert "hyperband" in chief_out  # the final table
    assert processes_mentioning(str(tmp_path)) == []


def test_worker_without_a_chief_gives_up_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([*CLI, "worker", "--oracle", "127.0.0.1:1", "--run-dir", str(tmp_path / "runs" / "x"),
                           "--chief-timeout", "2"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no new study announced" in proc.stderr


def test_a_killed_chief_leaves_no_worker_behind_and_the_run_resumes(tmp_path: Path) -> None:
    command = [*CLI, "run", "--preset", "smoke", "--strategies", "random", "--budget-epochs", "12", "--workers", "2",
               "--results-dir", str(tmp_path)]
    run_dir = tmp_path / "runs" / make_config("smoke", strategies=("random",), budget_epochs=12, workers=2).run_id
    # the worker that records trial 1 kills its chief right after the record, before the chief ends the trial;
    # the other worker is wherever its own trial is
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=with_fault("random-seed1", 1, "SIGKILL", "parent"))
    try:
        _, err = run.communicate(timeout=HANG_GUARD_SECONDS)
    finally:
        run.kill()
    assert run.returncode == 1 and "random-seed1: exited with code -9" in err
    wait_until_no_process_mentions(str(tmp_path))  # workers notice their parent is gone and exit
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = _trials(run_dir / "studies" / "random-seed1")
    assert len(trials) == 6 and all(t["status"] == "COMPLETE" for t in trials)  # cut-off trials were re-run


def test_sigterm_stops_the_runner_the_chief_and_its_workers(tmp_path: Path) -> None:
    run = subprocess.Popen([*CLI, "run", "--preset", "smoke", "--strategies", "random", "--budget-epochs", "12",
                            "--workers", "2", "--results-dir", str(tmp_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while len(child_processes("worker", tmp_path)) < 2:
            assert run.poll() is None and time.monotonic() < deadline, "the run ended or hung before two workers"
            time.sleep(0.05)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130 and "run the same command again to resume" in err
    wait_until_no_process_mentions(str(tmp_path))
