"""`table build`: train every configuration of a grid space once per seed, resumably, on every core.

Each configuration trains in a worker process (spawned, single-threaded by default: on 2 CPU cores two small nets at
once beat one net on two threads, docs/tabular.md), or on a Dask cluster's workers (`cluster`). The
parent appends each finished curve to the seed's `.partial.jsonl` with an fsync, so a kill loses at most the
configurations in flight; the same command resumes. When every configuration is in, the curves are written in grid
order to `seed<k>.jsonl.gz` and the partial file removed.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..cluster import connected, farm
from .. import catalog
from ..environment import collect_env, like_this_machine, software_identity, utc_now
from ..errors import ClusterError, ConfigError, TableError
from ..store import TablePaths, append_document, atomic_write_json, keep_traceback, read_json, write_failure, \
    write_lines
from ..tabular.table import Curve, TableSpec, config_key, curve_to_dict, read_curves, read_spec, write_curves, \
    write_spec
from ..markdown import fmt_seconds

__all__ = ["build_table", "standard_spec", "table_spec", "user_spec"]

log = logging.getLogger(__name__)


def standard_spec(space: str) -> TableSpec:
    """The spec of the committed tables: the standard preset's split, batch size and final fit length (the longest
    read of a replayed study: 15 epochs, more than a trial's 9)."""
    from ..config import preset_config

    grid = catalog.grid_of(space)
    if grid is None:
        grids = [name for name, entry in catalog.SPACES.items() if entry.grid is not None]
        raise ConfigError(f"space {space!r} is not a grid; tables exist for: {', '.join(grids)}")
    cfg = preset_config("standard", space)
    return TableSpec(space=space, space_revision=catalog.SPACES[space].revision,
                     grid={k: list(v) for k, v in grid.items()}, split_seed=1, val_size=cfg.val_size,
                     batch_size=cfg.batch_size, epochs=max(cfg.final_epochs, cfg.epochs_per_trial))


def user_spec(space: str, data: str | None, data_dir: Path | None = None) -> TableSpec:
    """The spec of a user's grid (`--space FILE.py:NAME`, with `--data`): the standard preset's split, batch size and
    final fit length, the grid and hyperparameters as the space declares them (found by building it once, in a
    child process), and the fingerprints of the space and the data.

    Raises:
        ConfigError: the space does not build, does not fit the data, or is not a grid.
        DataError: the data cannot be loaded.
    """
    from ..config import preset_config
    from ..datasets import load_checked
    from ..engine.userspace import probe_in_child

    cfg = preset_config("standard", space, data)
    raw = load_checked(cfg.data, cfg.data_fingerprint, data_dir)
    probe = probe_in_child(space, cfg.space_fingerprint, len(raw.class_names))
    for warning in probe.warnings:
        log.warning("%s", warning)
    if probe.grid is None:
        raise ConfigError(f"space {space} is not a grid, so it cannot be tabulated ({probe.not_grid}); its live runs "
                          "work as they are")
    return TableSpec(space=space, space_revision=cfg.space_revision, grid=probe.grid, split_seed=1,
                     val_size=cfg.val_size, batch_size=cfg.batch_size,
                     epochs=max(cfg.final_epochs, cfg.epochs_per_trial), space_fingerprint=cfg.space_fingerprint,
                     data=data, data_fingerprint=cfg.data_fingerprint, hyperparameters=probe.hyperparameters,
                     class_names=list(raw.class_names) if data is not None else None)


def table_spec(space: str, data: str | None, data_dir: Path | None = None) -> TableSpec:
    """The spec of a table of `space`: a built-in grid's (`standard_spec`) or a user's (`user_spec`)."""
    if space in catalog.SPACES and data is None:
        return standard_spec(space)
    return user_spec(space, data, data_dir)


def relative_cost(params: dict[str, Any]) -> float:
    """Seconds per epoch on 2 CPU cores, fitted on the committed ann runs' epochs (0.4 s + 2.2 us per
    multiply-add per image): used to start the costliest configurations first and to estimate what is left. A user's
    grid, whose cost is unknown, counts every configuration alike."""
    if "neurons" not in params or "n_hidden_layers" not in params:
        return 1.0
    neurons, layers = int(params["neurons"]), int(params["n_hidden_layers"])
    return 0.4 + 2.2e-6 * (784 * neurons + (layers - 1) * neurons**2 + 10 * neurons)


def build_estimate(spec: TableSpec, todo: list[dict[str, Any]], files: TablePaths, jobs: int) -> str:
    """What the build will take, said before it starts: from an earlier seed of this table built on a machine like
    this one (CPU model and cores) where there is one, else from `relative_cost`'s fit for the built-in grid; a user's
    grid on a new machine has no basis until its first configurations finish (the progress lines' ETA)."""
    for earlier in sorted(p for p in files.folder.glob("seed*.json") if re.fullmatch(r"seed\d+\.json", p.name)):
        record = read_json(earlier, "table-build")
        if record.get("jobs") and record.get("configs") and like_this_machine(record.get("env", {})):
            per_config = record["wall_seconds"] * record["jobs"] / record["configs"]
            return (f"about {fmt_seconds(per_config * len(todo) / jobs)} for {len(todo)} configurations (from "
                    f"{earlier.stem}'s build on this machine: {fmt_seconds(per_config)} per configuration and job)")
    if spec.space in catalog.SPACES:
        seconds = sum(relative_cost(c) for c in todo) * spec.epochs / jobs
        return (f"about {fmt_seconds(seconds)} for {len(todo)} configurations (configurations x {spec.epochs} epochs x "
                "seconds per epoch, fitted on 2 CPU cores; a faster machine takes less)")
    return (f"{len(todo)} configurations x {spec.epochs} epochs x seconds per epoch, which this machine has not "
            "measured for this grid: the progress lines give an ETA once the first configurations finish")


# ---- worker process ----------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(spec: TableSpec, data_dir: Path | None, device: str, threads: int) -> None:
    """Load the split once per process; on a Dask worker `data_dir` is None, so it reads its own copy."""
    from ..engine import runtime
    from ..data import make_splits
    from ..datasets import load_checked

    _WORKER["device"] = runtime.configure(device=device, threads=threads)
    _WORKER["splits"] = make_splits(load_checked(spec.data, spec.data_fingerprint, data_dir), seed=spec.split_seed,
                                    val_size=spec.val_size, train_subset=spec.train_subset)
    _WORKER["spec"] = spec


def _train(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train one configuration from the seed's initialisation; its curve as a JSON-ready dict."""
    import keras

    from ..engine.spaces import build_model
    from ..engine.strategies import trial_seed

    spec: TableSpec = _WORKER["spec"]
    splits = _WORKER["splits"]
    keras.utils.set_random_seed(trial_seed(seed, config_key(params)))
    start = time.perf_counter()
    model = build_model(spec.space, params, spec.space_fingerprint)
    recorder = _epoch_recorder(splits.x_test, splits.y_test, start)
    history = model.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                        epochs=spec.epochs, batch_size=spec.batch_size, verbose=0, callbacks=[recorder])
    keras.backend.clear_session()
    h = history.history
    curve = Curve(params=params, seed=seed, loss=np.array(h["loss"]), accuracy=np.array(h["accuracy"]),
                  val_loss=np.array(h["val_loss"]), val_accuracy=np.array(h["val_accuracy"]),
                  test_accuracy=np.array(recorder.test_accuracy), seconds=np.array(recorder.seconds),
                  confusion=np.array(recorder.confusion), setup_seconds=recorder.setup_seconds)
    return curve_to_dict(curve) | {"device": _WORKER["device"]}


def _epoch_recorder_class() -> type:
    import keras

    from ..engine.metrics import TEST_BATCH_SIZE

    class EpochRecorder(keras.callbacks.Callback):
        """Times each epoch, then scores the epoch's weights on the test set (outside the timed span)."""

        def __init__(self, x_test: np.ndarray, y_test: np.ndarray, start: float) -> None:
            super().__init__()
            self.x_test, self.y_test, self.start = x_test, y_test, start
            self.setup_seconds = 0.0
            self.seconds: list[float] = []
            self.test_accuracy: list[float] = []
            self.confusion: list[np.ndarray] = []
            self._epoch_start = start

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._epoch_start = time.perf_counter()
            if epoch == 0:
                self.setup_seconds = self._epoch_start - self.start

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._epoch_start)
            predicted = self.model.predict(self.x_test, batch_size=TEST_BATCH_SIZE, verbose=0).argmax(axis=1)
            n = int(self.model.outputs[0].shape[-1])  # classes
            matrix = np.bincount(self.y_test * n + predicted, minlength=n * n).reshape(n, n)
            self.confusion.append(matrix)
            self.test_accuracy.append(float(np.trace(matrix) / self.y_test.size))

    return EpochRecorder


def _epoch_recorder(x_test: np.ndarray, y_test: np.ndarray, start: float) -> Any:
    """Built on first use: the parent process never imports Keras."""
    return _epoch_recorder_class()(x_test, y_test, start)


# ---- parent ------------------------------------------------------------------------------------------------------

def _check_spec(folder: Path, spec: TableSpec) -> None:
    """Write the spec of a new table; refuse to add curves to a table built under another one."""
    if TablePaths(folder).spec.is_file():
        stored = read_spec(folder)
        if stored != spec:
            differences = "; ".join(stored.differences(spec))
            raise TableError(f"the table at {folder} was built under another spec ({differences}); build into "
                             "another --tables-dir, or move it aside to rebuild")
    else:
        write_spec(folder, spec)


def sample_configs(spec: TableSpec, sample: int | None, seed: int,
                   chosen: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The whole grid, the `chosen` configurations (a check that picks them by a rule, `tabular.selection`), or
    `sample` configurations drawn without replacement by a generator fixed by `seed`.

    Raises:
        ConfigError: a sample larger than the grid, or a chosen configuration the grid does not hold.
    """
    configs = spec.configs()
    if chosen is not None:
        known = {config_key(c) for c in configs}
        outside = [config_key(c) for c in chosen if config_key(c) not in known]
        if outside:
            raise ConfigError(f"{len(outside)} chosen configuration(s) are not in the {spec.label} grid, e.g. "
                              f"{outside[0]}")
        picked = {config_key(c) for c in chosen}
        return [c for c in configs if config_key(c) in picked]
    if sample is None:
        return configs
    if not 1 <= sample <= len(configs):
        raise ConfigError(f"--sample must be between 1 and the grid's {len(configs)} configurations, found {sample}")
    return random.Random(f"sample:{seed}").sample(configs, sample)


def build_table(spec: TableSpec, seed: int, *, tables_dir: Path, data_dir: Path | None, device: str, jobs: int,
                threads: int, sample: int | None = None, chosen: list[dict[str, Any]] | None = None,
                scheduler: str | None = None, progress: Callable[[str], None] = print) -> Path:
    """Train what the seed still lacks (on the Dask cluster of `scheduler`, if given); return the complete seed file.

    Raises:
        TableError: the folder holds a table built under another spec, or a configuration failed to train.
        ClusterError: the scheduler cannot be reached, or a worker cannot train (other software, no data).
    """
    space = spec.label
    folder = tables_dir / space
    folder.mkdir(parents=True, exist_ok=True)
    _check_spec(folder, spec)
    files = TablePaths(folder)
    complete, partial, clock = files.curves(seed), files.partial(seed), files.clock(seed)
    if complete.is_file():
        progress(f"table {space} seed {seed} is complete: {complete}")
        return complete
    wanted = sample_configs(spec, sample, seed, chosen)
    kept = list(read_curves(partial)) if partial.is_file() else []
    if partial.is_file():  # rewrite without a line a kill may have cut off, so that appends start on a new line
        write_lines(partial, (curve_to_dict(c) for c in kept))
    done = {config_key(c.params) for c in kept}
    todo = sorted((c for c in wanted if config_key(c) not in done), key=relative_cost, reverse=True)
    with connected(scheduler) as client:
        where = f"the Dask cluster at {scheduler}" if client else f"{jobs} jobs"
        progress(f"table {space} seed {seed}: {len(wanted)} configurations x {spec.epochs} epochs, {len(done)} "
                 f"already trained; {where} x {threads} thread(s) on {device}; curves go to {partial}")
        if not client and todo:
            progress(f"table {space} seed {seed}: {build_estimate(spec, todo, files, jobs)}")
        finished = farm(functools.partial(_train, seed=seed), todo, jobs=jobs, threads=threads, client=client,
                        initializer=_init_worker, initargs=(spec, None if client else data_dir, device, threads),
                        identity=software_identity, log=files.worker_log(seed))
        spent = _store_curves(finished, spec, seed, wanted, done, files, progress)
    curves = {config_key(c.params): c for c in read_curves(partial)}
    write_curves(complete, [curves[config_key(c)] for c in wanted])
    atomic_write_json(files.build(seed), "table-build", {
        "seed": seed, "configs": len(wanted), "sample": sample, "chosen": chosen is not None,
        "jobs": None if scheduler else jobs, "threads": threads, "scheduler": scheduler, "devices": spent["devices"],
        "finished_at": utc_now(), "wall_seconds": round(spent["seconds"], 1), "env": collect_env()})
    partial.unlink()
    clock.unlink(missing_ok=True)
    progress(f"table {space} seed {seed} complete: {complete}")
    return complete


def _store_curves(finished: Iterator[tuple[dict[str, Any], Any]], spec: TableSpec, seed: int,
                  wanted: list[dict[str, Any]], done: set[str], files: TablePaths,
                  progress: Callable[[str], None]) -> dict[str, Any]:
    """Append each curve to the seed's partial file as it arrives, and the seconds and devices spent so far (in
    every session of a resumed build) to its clock file; return those totals.

    Raises:
        TableError: a configuration failed to train, or its worker died.
    """
    partial, clock, worker_log = files.partial(seed), files.clock(seed), files.worker_log(seed)
    stored: dict[str, Any] = read_json(clock, "clock") if clock.is_file() else {}
    spent_before, devices = float(stored.get("seconds", 0.0)), set(stored.get("devices", []))
    spent: dict[str, Any] = {"seconds": spent_before, "devices": sorted(devices)}
    total_cost = sum(relative_cost(c) for c in wanted)
    left_cost = sum(relative_cost(c) for c in wanted if config_key(c) not in done)
    started = time.perf_counter()
    spent_cost = 0.0
    for params, future in finished:
        try:
            data = future.result()
        except ClusterError:  # names the worker that cannot train: already one line
            raise
        except Exception as exc:  # a worker's error or death: one line, the finished curves stay
            if (failed_write := write_failure(exc)) is not None:
                raise failed_write from None
            keep_traceback(worker_log, exc)  # with the worker's side of it (concurrent.futures keeps the remote one)
            raise TableError(f"training {config_key(params)} failed ({type(exc).__name__}: {exc}); the "
                             f"{len(done)} finished curves are kept in {partial}; worker output and the traceback "
                             f"are in {worker_log}") from None
        devices.add(data.pop("device"))
        append_document(partial, data)
        done.add(config_key(params))
        spent_cost += relative_cost(params)
        elapsed = time.perf_counter() - started
        spent = {"seconds": spent_before + elapsed, "devices": sorted(devices)}
        atomic_write_json(clock, "clock", spent)
        eta = elapsed * (left_cost - spent_cost) / spent_cost
        best = max(v for v in data["val_accuracy"] if v is not None) if any(
            v is not None for v in data["val_accuracy"]) else float("nan")
        progress(f"table {spec.label} seed {seed}: {len(done)}/{len(wanted)} ({_describe(params)}: best val "
                 f"{best:.4f}), {100 * (1 - (left_cost - spent_cost) / total_cost):.0f}% of the work, "
                 f"{fmt_seconds(elapsed)} elapsed, ETA {fmt_seconds(eta)}")
    return spent


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                     for name, value in params.items())
