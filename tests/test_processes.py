"""The process layer on its own: a job survives its command line, and a child's error reaches the parent once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fmnist_bench.processes import EXIT_RESULTS, Child, Serving, StudyJob, WorkerJob, command


@pytest.mark.parametrize("job", [
    StudyJob(Path("/r/runs/x"), "hyperband", 3, device="cpu", threads=2, data_dir=Path("/data"),
             trials_per_process=16, serving=Serving(bind="0.0.0.0", port=50051, local_workers=2,
                                                    announce=Path("/r/runs/x/.work/chief.json")),
             parent_pid=42, log_level=logging.WARNING),
    StudyJob(Path("runs/y"), "random", 1),
    WorkerJob(Path("/r/runs/x"), "random", 2, tuner_id="random-seed2.worker0", oracle="127.0.0.1:5000",
              chief_timeout=5.0, parent_pid=7),
])
def test_a_job_is_decoded_from_its_command_line_as_it_was_built(job: StudyJob | WorkerJob) -> None:
    argv = command(job)
    assert argv[1:4] == ["-m", "fmnist_bench.child", job.KIND]
    assert type(job).decode(argv[4]) == job


def test_a_childs_one_line_error_is_kept_for_the_parent_and_not_printed_twice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    child = Child(StudyJob(tmp_path / "no-such-run", "random", 1))
    assert child.wait() == EXIT_RESULTS  # an unusable results folder stops the whole run
    assert child.error is not None and "config.json does not exist" in child.error
    assert "config.json" in child.describe_exit() and "fmnist-bench: error" not in capsys.readouterr().err
