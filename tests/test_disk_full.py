"""A results folder that stops taking writes in the middle of a run (a full disk, a lost permission): the run ends
with one line naming the file and what to do, leaves nothing half-written, and the same command then finishes it with
the records an uninterrupted run makes. A small tmpfs stands in for the disk (root); a folder made read-only stands
in for a lost permission (any other user, for whom chmod is enough)."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from fmnist_bench.config import make_config

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "fmnist_bench"]
ARGS = ["run", "--preset", "smoke", "--strategies", "random,hyperband", "--budget-epochs", "8"]
RUN_ID = make_config("smoke", strategies=("random", "hyperband"), budget_epochs=8).run_id
# what a rerun cannot reproduce: wall times and memory
UNREPEATABLE = {"seconds", "oracle_seconds", "rss_mb"}


class _Blocker:
    """Makes `folder` refuse writes and then accept them again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.filler = folder / "filler"

    def block(self) -> str:
        """Fill the disk (tmpfs) or take the write permission away; return the cause the error line must name."""
        if os.geteuid() == 0:
            with self.filler.open("wb") as handle:
                with contextlib.suppress(OSError):
                    while True:
                        handle.write(b"\0" * 2**20)
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


def _trials(study: Path) -> list[dict[str, str]]:
    with (study / "trials.csv").open() as handle:
        return [{k: v for k, v in row.items() if k not in UNREPEATABLE} for row in csv.DictReader(handle)]


def _scores(study: Path) -> dict[str, object]:
    result = json.loads((study / "study.json").read_text())
    return {k: result[k] for k in ("best_trial", "best_params", "best_val_accuracy", "final_val_accuracy", "test")}


def test_a_results_folder_that_stops_taking_writes_ends_the_run_in_one_line_and_the_same_command_finishes_it(
        tmp_path: Path) -> None:
    reference = subprocess.Popen([*CLI, *ARGS, "--results-dir", str(tmp_path / "reference")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with _small_disk(tmp_path / "disk") as disk:
        command = [*CLI, *ARGS, "--results-dir", str(disk.folder / "results")]
        run_dir = disk.folder / "results" / "runs" / RUN_ID
        run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            second_trial = run_dir / ".work" / "random-seed1" / "records" / "trial_0001.json"
            deadline = time.monotonic() + 300
            while not second_trial.is_file() and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            cause = disk.block()
            _, err = run.communicate(timeout=300)
        finally:
            run.kill()
        assert run.returncode == 2, err[-3000:]
        (error,) = [line for line in err.splitlines() if line.startswith("fmnist-bench: error:")]
        assert f"({cause})" in error and "run the same command again" in error and str(run_dir) in error
        assert "Traceback" not in err
        assert not list(run_dir.rglob("*.tmp")), "a temporary file survived"
        for document in run_dir.rglob("*.json"):  # ours and keras-tuner's: each whole, or absent
            json.loads(document.read_text())
        assert not (run_dir / "studies" / "random-seed1" / "study.json").exists()

        disk.unblock()
        again = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "cut off mid-write" not in again.stderr  # resumed, not restarted
        _, reference_err = reference.communicate(timeout=600)
        assert reference.returncode == 0, reference_err[-3000:]
        for study in ("random-seed1", "hyperband-seed1"):
            resumed, uninterrupted = run_dir / "studies" / study, tmp_path / "reference" / "runs" / RUN_ID / \
                "studies" / study
            assert _trials(resumed) == _trials(uninterrupted)
            assert _scores(resumed) == _scores(uninterrupted)
