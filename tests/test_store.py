"""The store's writes: whole or not at all, and a failed one explained in one line that names the file."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from fmnist_bench.errors import ResultsError
from fmnist_bench.store import atomic_write_text, keep_traceback, unwritable, write_failure

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


class ResourceExhaustedError(Exception):
    """Stands in for TensorFlow's (its module is not imported here: the store matches messages, not types)."""


@pytest.mark.parametrize("exc, expected", [
    # Keras 2 checkpoints through TensorFlow's SaveV2 op (message as TensorFlow 2.15.1 printed it on a full tmpfs)
    (ResourceExhaustedError("{{function_node __wrapped__SaveV2_dtypes_7_device_/job:localhost/replica:0/task:0/device:"
                            "CPU:0}} /r/ckpt/checkpoint_temp/part-00000-of-00001.data-00000-of-00001.tempstate170; No "
                            "space left on device [Op:SaveV2]"),
     "cannot write /r/ckpt/checkpoint_temp/part-00000-of-00001.data-00000-of-00001.tempstate170 (No space left on "
     "device)"),
    (RuntimeError("/r/ckpt/checkpoint_temp/part-0; Permission denied [Op:SaveV2]"),
     "cannot write /r/ckpt/checkpoint_temp/part-0 (Permission denied)"),
    (OSError(errno.EROFS, "Read-only file system", "/r/a.json"), "cannot write /r/a.json (Read-only file system)"),
])
def test_a_backends_failed_write_is_the_same_one_line(exc: Exception, expected: str) -> None:
    failure = write_failure(exc)
    assert failure is not None and str(failure).startswith(expected) and ADVICE in str(failure)


@pytest.mark.parametrize("exc", [
    ResourceExhaustedError("OOM when allocating tensor with shape[1024,1024] and type float on /job:localhost"),
    ValueError("No space left on device"),  # the words without a file: not a write this harness can name
    KeyError("n_hidden_layers"),
])
def test_anything_else_is_not_taken_for_a_failed_write(exc: Exception) -> None:
    assert write_failure(exc) is None


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


def test_a_kept_traceback_is_appended_to_its_log_or_to_the_temporary_folder_when_that_cannot_be_written(
        tmp_path: Path) -> None:
    def failing() -> None:
        raise KeyError("tuner/epochs")

    try:
        failing()
    except KeyError as exc:
        caught = exc
    log = tmp_path / "work" / "errors.log"
    assert keep_traceback(log, caught) == log and keep_traceback(log, caught) == log
    text = log.read_text()
    assert text.count("Traceback (most recent call last)") == 2 and "in failing" in text and "KeyError" in text
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    fallback = keep_traceback(blocked / "errors.log", caught)  # its folder is a file: cannot be created
    assert fallback.parent == Path(tempfile.gettempdir()) and "KeyError" in fallback.read_text()
    fallback.unlink()


def test_where_a_permission_error_may_be_a_read_only_a_full_disk_counts_as_a_failed_write() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied", "/r/oracle.json")
    assert write_failure(denied, full_disk_only=True) is None and write_failure(denied) is not None
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/r/oracle.json")
    assert "No space left on device" in str(write_failure(full, full_disk_only=True))
    assert write_failure(RuntimeError("/r/x; No space left on device"), full_disk_only=True) is not None
