"""Shared fixtures: tiny IDX files written by the tests, and the real data for end-to-end runs."""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from fmnist_bench.faults import FAULT_VARIABLE
from fmnist_bench.processes import CHILD_MODULE, JOB_KINDS

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


TIMING = {"seconds", "oracle_seconds", "rss_mb", "started", "ended"}


def rows_without_timing(path: Path) -> list[dict[str, str]]:
    """A trials.csv or epochs.csv minus the wall-clock columns: what must be equal between reproducible runs."""
    with path.open() as handle:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(handle)]


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def child_processes(kind: str, folder: Path) -> list[int]:
    """Live child processes of this kind (`processes.StudyJob`/`WorkerJob`) whose job names a path in `folder`."""
    if kind not in JOB_KINDS or not isinstance(folder, Path):  # swapped arguments would find nothing, silently
        raise TypeError(f"child_processes(kind, folder): kind is one of {sorted(JOB_KINDS)}, found {kind!r}")
    return sorted(set(processes_mentioning(f"{CHILD_MODULE} {kind} ")) & set(processes_mentioning(str(folder))))


# The order in which `--dist loadfile` hands whole test files to the test processes (pyproject's addopts turn off
# xdist's own order, by number of tests). With xdist's order a long file could start last and leave the other
# process idle for minutes: on 2 cores the default group's test_end_to_end.py (about 250 s of one process) started
# 100 s in, and the three CI commands ended 7-15% later than half their summed test time, the shortest possible.
# This order was chosen by simulating xdist's scheduler on their per-test times (2026-12-07); with it the default and
# slow groups ended within 1% of that bound, and the simulation stays within 7% when every test's time moves by up
# to 15% at random. Files not named here run after these, in collection order. A stale order costs minutes, never a
# result; tests/test_scheduling_order.py checks the names.
FILES_IN_SCHEDULING_ORDER = (
    "test_api.py", "test_end_to_end.py", "test_backends.py", "test_cluster.py", "test_own_space.py",
    "test_distributed.py", "test_platforms.py", "test_results_faults.py", "test_tpe.py", "test_replay.py",
    "test_table.py", "test_report.py", "test_strategies.py", "test_runtime.py", "test_benchmark_commands.py",
    "test_cli.py", "test_augment.py", "test_parallel.py", "test_spaces.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files in FILES_IN_SCHEDULING_ORDER; a file's own tests keep their order and stay together (a stable sort)."""
    rank = {name: position for position, name in enumerate(FILES_IN_SCHEDULING_ORDER)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


HANG_GUARD_SECONDS = 300  # only a process that hangs waits this long; every wait below ends at its event


def with_fault(study: str, trial: int, signal_name: str, target: str) -> dict[str, str]:
    """The environment of a run whose process that records `trial` of `study` sends `signal_name` to `target` right
    after the record is written (`fmnist_bench.faults`): a stop point that no machine load can move."""
    return os.environ | {FAULT_VARIABLE: f"{study}:{trial}:{signal_name}:{target}"}


def process_state(pid: int) -> str | None:
    """A process's state letter from /proc (R, S, T for stopped, Z, ...), None once it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None


def wait_for_stopped(folder: Path, run: subprocess.Popen) -> int:
    """The pid of the process of this run that stopped itself (SIGSTOP at a fault point); fails at once if the run
    ends first."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while time.monotonic() < deadline:
        stopped = [pid for pid in processes_mentioning(str(folder)) if process_state(pid) == "T"]
        if stopped:
            return stopped[0]
        if run.poll() is not None:
            pytest.fail(f"the run ended (exit {run.returncode}) before its fault point")
        time.sleep(0.05)
    pytest.fail("the run never reached its fault point")


def wait_until_no_process_mentions(text: str) -> None:
    """Returns as soon as no live process names `text` (a process that never exits fails after the hang guard)."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while (left := [pid for pid in processes_mentioning(text) if process_state(pid) not in (None, "Z")]):
        if time.monotonic() > deadline:
            pytest.fail(f"processes left behind: {left}")
        time.sleep(0.05)


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array as an IDX file (magic 0x0801 for 1-D labels, 0x0803 for 3-D images)."""
    magic = {1: 0x0801, 3: 0x0803}[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> bytes:
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw))
    return raw


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """Four valid IDX files with 200 training and 50 test images, 10 classes, balanced."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "fmnist"
    folder.mkdir()
    for prefix, n in (("train", 200), ("t10k", 50)):
        write_idx_gz(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    return folder


@pytest.fixture(scope="session")
def real_data_available() -> None:
    from fmnist_bench.data import find_data_dir
    from fmnist_bench.errors import DataError

    try:
        find_data_dir()
    except DataError as exc:
        pytest.fail(f"end-to-end tests need the real data: {exc}")


# ---- a user's search space and data, as someone outside the project writes them ------------------------------------

SPACE = '''
import keras


def build_model(hp):
    model = keras.Sequential([keras.Input(shape=(4, 4)), keras.layers.Flatten(),
                              keras.layers.Dense(hp.Choice("units", [8, 16]), activation="relu"),
                              keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [0.01, 0.03])),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model
'''


def user_arrays(n_train: int = 150, n_test: int = 60, seed: int = 0) -> dict[str, np.ndarray]:
    """A learnable 3-class task on 4x4 inputs: the class is the brightest of three fixed pixels."""
    rng = np.random.default_rng(seed)
    x = rng.random((n_train + n_test, 4, 4), dtype=np.float32)  # (n, 4, 4)
    y = np.argmax(x[:, 0, :3], axis=1)  # (n,)
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:],
            "class_names": np.array(["left", "middle", "right"])}


@pytest.fixture
def user_files(tmp_path: Path) -> tuple[str, str]:
    """A space file and an .npz written as someone outside the project would write them."""
    space = tmp_path / "my_space.py"
    space.write_text(SPACE)
    data = tmp_path / "my_data.npz"
    np.savez(data, **user_arrays())
    return f"{space}:build_model", str(data)
