"""Fault injection for tests: a signal sent at an exact point of a study instead of a wall-clock window.

`FMNIST_BENCH_FAULT=<study>:<trial>:<signal>:<target>` makes the process that records trial number `<trial>` of
study `<study>` (for example `hyperband-seed1`) send `<signal>` (`SIGKILL`, `SIGINT`, `SIGSTOP`, ...) right after
the trial's record is on disk, to `<target>`: `self`, `parent` (the run, or a worker's chief) or `group` (its
process group: a run started in a session of its own, as a terminal's Ctrl-C reaches it). Tests kill, interrupt or
pause a run at that point however loaded the machine is; unset (always, outside tests), nothing happens.

A Dask worker (`fmnist_bench.cluster`) reads the same variable with the study `cluster-task`:
`cluster-task:2:SIGKILL:self` kills the worker process as it starts its second task, a worker dying mid-task at a
known point.
"""

from __future__ import annotations

import os
import signal

__all__ = ["FAULT_VARIABLE", "after_trial_recorded", "at_cluster_task"]

FAULT_VARIABLE = "FMNIST_BENCH_FAULT"
_TARGETS = {"self": lambda sig: os.kill(os.getpid(), sig), "parent": lambda sig: os.kill(os.getppid(), sig),
            "group": lambda sig: os.killpg(os.getpgrp(), sig)}


def after_trial_recorded(study: str, trial: int) -> None:
    """Send the configured signal if this is the configured study and trial."""
    spec = os.environ.get(FAULT_VARIABLE)
    if not spec:
        return
    name, number, sig, target = spec.split(":")
    if name == study and int(number) == trial:
        _TARGETS[target](signal.Signals[sig])


def at_cluster_task(started: int) -> None:
    """Send the configured signal if this Dask worker process is starting its `started`-th task."""
    after_trial_recorded("cluster-task", started)
