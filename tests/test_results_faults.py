"""Faults of the results folder, end to end; after each, the same command finishes the run with the trials and scores
of an uninterrupted run (made once, beside them).

- It stops taking writes mid-run (a full disk, a lost permission): the run ends with one line naming the file and
  what to do, and leaves nothing half-written. A small tmpfs stands in for the disk (root); a folder made read-only
  stands in for a lost permission (any other user, for whom chmod is enough).
- A kill left keras-tuner's project cut off mid-write: the project and the trial records are moved aside, kept, and
  the study restarts."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import shutil
import subprocess
import signal
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import HANG_GUARD_SECONDS, child_processes, rows_without_timing, wait_for_stopped, \
    wait_until_no_process_mentions, with_fault
from fmnist_bench.config import make_config

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "fmnist_bench"]
ARGS = ["run", "--preset", "smoke", "--strategies", "random,hyperband", "--budget-epochs", "8"]
RUN_ID = make_config("smoke", strategies=("random", "hyperband"), budget_epochs=8).run_id


class _Blocker:
    """Makes `folder` refuse writes and then accept them again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.filler = folder / "filler"

    def block(self, leave: int = 0) -> str:
        """Fill the disk (tmpfs) up to `leave` free bytes, or take the write permission away; return the cause the
        error line must name."""
        if os.geteuid() == 0:
            def free() -> int:
                stat = os.statvfs(self.folder)
                return stat.f_bavail * stat.f_frsize

            with self.filler.open("wb") as handle:
                with contextlib.suppress(OSError):
                    while free() > leave:
                        handle.write(b"\0" * min(2**20, max(free() - leave, 4096)))
                        handle.flush()
            return os.strerror(errno.ENOSPC)
        for path in [self.folder, *self.folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o555)
        return os.strerror(errno.EACCES)

    def unblock(self) -> None:
        self.filler.unlink(missing_ok=True)
        for path in [self.folder, *self.folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)


@contextlib.contextmanager
def _small_disk(folder: Path) -> Iterator[_Blocker]:
    folder.mkdir()
    if os.geteuid() != 0:
        yield _Blocker(folder)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(folder)], capture_output=True,
                             text=True) if shutil.which("mount") else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip("root without the right to mount a tmpfs, and chmod does not bind root: "
                    f"{mounted.stderr.strip() if mounted else 'no mount command'}")
    try:
        yield _Blocker(folder)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _scores(study: Path) -> dict[str, object]:
    result = json.loads((study / "study.json").read_text())
    return {k: result[k] for k in ("best_trial", "best_params", "best_val_accuracy", "final_val_accuracy", "test")}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Path]]:
    """The run folder of the same command left alone; started at once, in parallel with the faulty runs."""
    results = tmp_path_factory.mktemp("uninterrupted")
    run = subprocess.Popen([*CLI, *ARGS, "--results-dir", str(results)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)

    def finished() -> Path:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-3000:]
        return results / "runs" / RUN_ID

    try:
        yield finished
    finally:
        run.kill()


def _assert_same_as(run_dir: Path, reference: Path) -> None:
    for study in ("random-seed1", "hyperband-seed1"):
        trials = Path("studies") / study / "trials.csv"
        assert rows_without_timing(run_dir / trials) == rows_without_timing(reference / trials)
        assert _scores(run_dir / "studies" / study) == _scores(reference / "studies" / study)


def _start_and_pause_after_trial(command: list[str], run_dir: Path, number: int) -> tuple[subprocess.Popen[str], int]:
    """Start the run; return it and the process that recorded random-seed1's trial `number`, which has stopped
    itself right after that record (SIGSTOP at the fault point): nothing moves until the test sends SIGCONT."""
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=with_fault("random-seed1", number, "SIGSTOP", "self"))
    paused = wait_for_stopped(run_dir, run)
    assert (run_dir / ".work" / "random-seed1" / "records" / f"trial_{number:04d}.json").is_file()
    return run, paused


def _block_mid_run(disk: _Blocker, command: list[str], run_dir: Path) -> None:
    """Start the run, block the disk after random-seed1's second trial, and check how the run ends: exit 2, one
    error line naming the cause, the run folder and what to do, no traceback, no temporary file left."""
    run, paused = _start_and_pause_after_trial(command, run_dir, 1)
    try:
        cause = disk.block()
        os.kill(paused, signal.SIGCONT)
        _, err = run.communicate(timeout=HANG_GUARD_SECONDS)
    finally:
        run.kill()
    assert run.returncode == 2, err[-3000:]
    (error,) = [line for line in err.splitlines() if line.startswith("fmnist-bench: error:")]
    assert f"({cause})" in error and "run the same command again" in error and str(run_dir) in error
    assert "Traceback" not in err, err[-5000:]
    assert not list(run_dir.rglob("*.tmp")), "a temporary file survived"


@pytest.mark.timing
def test_a_results_folder_that_stops_taking_writes_ends_the_run_in_one_line_and_the_same_command_finishes_it(
        tmp_path: Path, uninterrupted: Callable[[], Path]) -> None:
    with _small_disk(tmp_path / "disk") as disk:
        command = [*CLI, *ARGS, "--results-dir", str(disk.folder / "results")]
        run_dir = disk.folder / "results" / "runs" / RUN_ID
        _block_mid_run(disk, command, run_dir)
        for document in run_dir.rglob("*.json"):  # ours and keras-tuner's: each whole, or absent
            json.loads(document.read_text())
        assert not (run_dir / "studies" / "random-seed1" / "study.json").exists()

        disk.unblock()
        again = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "cut off mid-write" not in again.stderr  # resumed, not restarted
        _assert_same_as(run_dir, uninterrupted())


@pytest.mark.timing
@pytest.mark.faults
def test_a_disk_that_fills_during_the_first_checkpoint_ends_the_run_in_one_line(tmp_path: Path) -> None:
    """About a megabyte free: the run's own files fit, the first trial's checkpoint does not (h5py's
    "Exception ignored" tracebacks of a half-written file must not reach the user)."""
    with _small_disk(tmp_path / "disk") as disk:
        cause = disk.block(leave=1_000_000)
        proc = subprocess.run([*CLI, "run", "--preset", "smoke", "--strategies", "random", "--results-dir",
                               str(disk.folder / "results")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("fmnist-bench: error:")]
    assert f"({cause})" in error and "run the same command again" in error
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-5000:]


@pytest.mark.timing
def test_a_worker_that_cannot_write_stops_the_study_and_the_run_in_one_line(tmp_path: Path) -> None:
    """With --workers the failed write happens in a worker process: the chief stops the study, the runner the run."""
    args = ["run", "--preset", "smoke", "--strategies", "random", "--budget-epochs", "12", "--workers", "2"]
    run_id = make_config("smoke", strategies=("random",), budget_epochs=12, workers=2).run_id
    with _small_disk(tmp_path / "disk") as disk:
        command = [*CLI, *args, "--results-dir", str(disk.folder / "results")]
        run_dir = disk.folder / "results" / "runs" / run_id
        _block_mid_run(disk, command, run_dir)
        assert child_processes("worker", run_dir) == []  # the chief stopped its workers before the run ended
        disk.unblock()
        again = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        with (run_dir / "studies" / "random-seed1" / "trials.csv").open() as handle:
            trials = list(csv.DictReader(handle))
        assert len(trials) == 6 and all(t["status"] == "COMPLETE" for t in trials)


def test_a_project_cut_off_mid_write_is_moved_aside_and_the_same_command_finishes_the_run(
        tmp_path: Path, uninterrupted: Callable[[], Path]) -> None:
    command = [*CLI, *ARGS, "--results-dir", str(tmp_path)]
    run_dir = tmp_path / "runs" / RUN_ID
    run, paused = _start_and_pause_after_trial(command, run_dir, 1)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    os.kill(paused, signal.SIGCONT)
    wait_until_no_process_mentions(str(run_dir))  # a study exits with its parent: no second writer after a rerun
    work = run_dir / ".work" / "random-seed1"
    oracle = work / "tuner" / "oracle.json"
    oracle.write_text(oracle.read_text()[:40])  # what a kill in the middle of an in-place write leaves
    records_before = sorted(p.name for p in (work / "records").iterdir())

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    (project_aside,) = work.glob("tuner.damaged-*")
    (records_aside,) = work.glob("records.damaged-*")
    assert (project_aside / "oracle.json").stat().st_size == 40  # kept as the kill left it
    assert sorted(p.name for p in records_aside.iterdir()) == records_before  # kept, not deleted
    (warning,) = [line for line in again.stderr.splitlines() if "cut off mid-write" in line]
    assert str(project_aside) in warning and str(records_aside) in warning
    _assert_same_as(run_dir, uninterrupted())
