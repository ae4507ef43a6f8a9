"""The store's writes: whole or not at all, and a failed one explained in one line that names the file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fmnist_bench.errors import ResultsError
from fmnist_bench.store import atomic_write_text, unwritable

ADVICE = "free space or fix the folder's permissions, then run the same command again"


@pytest.mark.parametrize("exc, expected", [
    (PermissionError(errno.EACCES, "Permission denied", "/r/trial.json"),
     "cannot write /r/trial.json (Permission denied)"),
    # h5py (Keras checkpoints): errno and file only inside a multi-line message, in two spellings
    (OSError(errno.ENOSPC, "Unable to synchronously create file (file write failed: time = Thu\n, filename = "
             "'/r/checkpoint.weights.h5', file descriptor = 3, errno = 28, error message = 'No space left on device'"),
     "cannot write /r/checkpoint.weights.h5 (No space left on device)"),
    (OSError("Unable to synchronously create file (unable to open file: name = '/r/c.h5', errno = 13, error message = "
             "'Permission denied', flags = 13)"), "cannot write /r/c.h5 (Permission denied)"),
    (OSError("something\nelse"), "cannot write the results folder (something)"),
])
def test_a_failed_write_is_one_line_naming_the_file_the_cause_and_what_to_do(exc: OSError, expected: str) -> None:
    message = str(unwritable(exc))
    assert message.startswith(expected) and ADVICE in message and "\n" not in message


def test_an_atomic_write_cut_off_by_a_full_disk_leaves_the_old_file_and_no_temporary_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "study.json"
    atomic_write_text(target, "old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ResultsError, match=r"cannot write .*study\.json \(No space left on device\)"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["study.json"]
