"""A tabular benchmark: every configuration of a grid space trained once per table seed, its curve stored per epoch.

Replayed studies (`fmnist_bench.tabular.replay`) read trials from here instead of training, so thousands of studies cost
seconds (the practice of NAS-Bench-201, HPOBench's tabular benchmarks, LCBench). A table folder holds its spec
(grid, split, epochs, batch size), and per training seed its curves (one per line), how it was built, and while a
build is in progress its partial curves (`store.TablePaths` names the files).

A curve records per epoch the training and validation loss and accuracy, the wall seconds of the epoch, and the
test accuracy and confusion matrix of the weights at that epoch; only a replayed final evaluation reads the test
columns. A seed file may cover the whole grid (a table seed that replays can use) or a sample of it (a validation
seed, trained to measure how much a second training seed moves the table).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import catalog
from ..errors import TableError
from ..grids import grid_configs
from ..sources import space_label
from ..store import TablePaths, atomic_write_json, read_json, read_lines, write_lines_gz

__all__ = ["Curve", "Table", "TableSpec", "config_key", "early_stopping_length", "final_epoch", "curve_from_dict",
           "curve_to_dict", "load_table", "read_curves"]

_USER_FIELDS = ("space_fingerprint", "data", "data_fingerprint", "hyperparameters", "class_names")
TABLE_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy", "seconds")


def config_key(params: dict[str, Any]) -> str:
    """The identity of a configuration: its values as canonical JSON (as `TrialRecord.config_key`)."""
    return json.dumps(params, sort_keys=True)


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """What every curve of a table was trained under; two tables with different specs never mix.

    Attributes:
        space: a grid space (`fmnist_bench.catalog`).
        space_revision: that space's revision (`catalog.SPACES`) when the table was built.
        grid: the grid's values, stored so that a table can be read without the code that built it.
        split_seed: the seed of the train/validation split (`data.make_splits`).
        val_size: validation images held out of the 60k training file.
        batch_size: mini-batch size of every epoch.
        epochs: epochs per curve: as many as the longest replayed trial or final fit reads.
        train_subset: train on this many images (stratified) instead of the whole training split: a benchmark of
            its own (the tests' tables); None for all.
        space_fingerprint: a user space's source fingerprint (`RunConfig.space_fingerprint`); None for a built-in.
        data: a user's dataset (`RunConfig.data`), with its `data_fingerprint`; None for Fashion-MNIST.
        hyperparameters: a user space's hyperparameters as keras-tuner declares them (`HyperParameters.get_config`):
            a replay declares exactly these, so that a seed proposes what it proposes live. None for a built-in
            grid, which the replay declares as Choices (`replay.grid_hyperparameters`).
        class_names: the dataset's classes (the confusion matrices' rows); None for Fashion-MNIST's.
    """

    space: str
    space_revision: int
    grid: dict[str, list[Any]]
    split_seed: int
    val_size: int
    batch_size: int
    epochs: int
    train_subset: int | None = None
    space_fingerprint: str | None = None
    data: str | None = None
    data_fingerprint: str | None = None
    hyperparameters: dict[str, Any] | None = None
    class_names: list[str] | None = None

    @property
    def label(self) -> str:
        """The table's folder name under the tables folder: its space's (and data's) label, as a run's."""
        return space_label(self.space, self.data)

    def to_dict(self) -> dict[str, Any]:
        """JSON form; the fields a user's table adds are left out at None, so a built-in table's spec is unchanged."""
        return {key: value for key, value in dataclasses.asdict(self).items()
                if value is not None or key not in _USER_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def configs(self) -> list[dict[str, Any]]:
        return grid_configs(self.grid)

    def differences(self, other: TableSpec) -> list[str]:
        return [f"{f.name} {getattr(self, f.name)!r} vs {getattr(other, f.name)!r}"
                for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclasses.dataclass(frozen=True)
class Curve:
    """One configuration trained for `spec.epochs` epochs with one seed; arrays are indexed by epoch - 1."""

    params: dict[str, Any]
    seed: int
    loss: np.ndarray  # (epochs,)
    accuracy: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    test_accuracy: np.ndarray
    seconds: np.ndarray  # wall seconds of each epoch (training and validation)
    confusion: np.ndarray  # (epochs, n_classes, n_classes) test-set confusion matrices, rows = true class
    setup_seconds: float  # building the model before its first epoch

    @property
    def epochs(self) -> int:
        return int(self.val_accuracy.shape[0])


def curve_to_dict(curve: Curve) -> dict[str, Any]:
    def floats(values: np.ndarray) -> list[float | None]:
        return [float(v) if math.isfinite(v) else None for v in values]

    return {"params": curve.params, "seed": curve.seed, "setup_seconds": round(curve.setup_seconds, 4),
            **{name: floats(getattr(curve, name)) for name in TABLE_COLUMNS},
            "confusion": [m.reshape(-1).astype(int).tolist() for m in curve.confusion]}


def curve_from_dict(data: dict[str, Any]) -> Curve:
    def array(name: str) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in data[name]], dtype=float)

    confusion = np.array(data["confusion"], dtype=np.int64)  # (epochs, n_classes ** 2): one flat matrix per epoch
    classes = math.isqrt(confusion.shape[1]) if confusion.ndim == 2 else 0
    return Curve(params=data["params"], seed=int(data["seed"]), setup_seconds=float(data["setup_seconds"]),
                 confusion=confusion.reshape(len(confusion), classes, classes),
                 **{name: array(name) for name in TABLE_COLUMNS})


def read_curves(path: Path) -> list[Curve]:
    """Curves of a seed file; in a `.partial.jsonl`, a last line cut off by a kill is dropped (it is retrained).

    Raises:
        ResultsError: the file cannot be read. TableError: a line is not a curve.
    """
    try:
        return [curve_from_dict(d) for d in read_lines(path)]
    except (KeyError, TypeError, ValueError) as exc:
        raise TableError(f"{path} holds a line that is not a curve ({exc}); rebuild that seed with "
                         "`table build`") from None


def write_curves(path: Path, curves: list[Curve]) -> None:
    write_lines_gz(path, (curve_to_dict(c) for c in curves))


def write_spec(folder: Path, spec: TableSpec) -> None:
    atomic_write_json(TablePaths(folder).spec, "table", {"spec": spec.to_dict()})


def read_spec(folder: Path) -> TableSpec:
    try:
        return TableSpec.from_dict(read_json(TablePaths(folder).spec, "table")["spec"])
    except (KeyError, TypeError) as exc:
        raise TableError(f"{TablePaths(folder).spec} is not a table spec ({exc})") from None


@dataclasses.dataclass(frozen=True)
class Table:
    """The complete seeds of a table, for lookup by configuration."""

    folder: Path
    spec: TableSpec
    curves: dict[int, dict[str, Curve]]  # seed -> config key -> curve
    builds: dict[int, dict[str, Any]]  # seed -> its build record

    @property
    def seeds(self) -> list[int]:
        """Seeds whose curves cover the whole grid: the ones replays draw from."""
        size = len(self.spec.configs())
        return sorted(s for s, curves in self.curves.items() if len(curves) == size)

    def only(self, seeds: tuple[int, ...]) -> Table:
        """The table reduced to these whole-grid seeds: a replay on one backend's training runs alone.

        Raises:
            TableError: a seed that is not one of the table's whole-grid seeds.
        """
        missing = [s for s in seeds if s not in self.seeds]
        if missing:
            raise TableError(f"the table at {self.folder} has no whole-grid seed {', '.join(map(str, missing))}; its "
                             f"whole-grid seeds are {', '.join(map(str, self.seeds))}")
        return dataclasses.replace(self, curves={s: self.curves[s] for s in seeds},
                                   builds={s: self.builds[s] for s in seeds if s in self.builds})

    def backend(self, seed: int) -> str | None:
        """The Keras backend that trained this seed, from its build record (None: not recorded)."""
        backend = self.builds.get(seed, {}).get("env", {}).get("keras_backend")
        return None if backend is None else str(backend)

    def curve(self, params: dict[str, Any], seed: int) -> Curve:
        """Raises: TableError: the table has no curve for this configuration (another grid, or a hole)."""
        try:
            return self.curves[seed][config_key(params)]
        except KeyError:
            raise TableError(f"table {self.folder} has no curve for {config_key(params)} (seed {seed}); the oracle "
                             "asked for a configuration outside the table: rebuild it with `table build`") from None

    def best(self, seed: int) -> tuple[Curve, float]:
        """The configuration a perfect search would choose on the validation set, and its final test accuracy
        under the replayed final fit rule (best validation epoch): the reference of simple regret."""
        best = max(self.curves[seed].values(), key=lambda c: float(np.nanmax(c.val_accuracy)))
        return best, float(best.test_accuracy[int(np.nanargmax(best.val_accuracy))])


def load_table(folder: Path, *, space: str | None = None, revision: int | None = None) -> Table:
    """Read a table folder, checking that it was built for `space` at `revision` when they are given.

    Raises:
        TableError: no table there, another space or grid revision, or unreadable curves.
    """
    files = TablePaths(folder)
    if space is not None and space in catalog.SPACES and catalog.grid_of(space) is None:
        grids = [name for name, entry in catalog.SPACES.items() if entry.grid is not None]
        raise TableError(f"space {space!r} is not a grid and has no table; tables exist for the grid spaces: "
                         f"{', '.join(grids)} (and for grids of your own)")
    if not files.spec.is_file():
        raise TableError(f"no table at {folder}; build one with `python -m fmnist_bench table build"
                         f"{' --space ' + space if space else ''}` (see docs/tabular.md)")
    spec = read_spec(folder)
    if space is not None and spec.space != space:
        raise TableError(f"the table at {folder} is for space {spec.space!r}, not {space!r}")
    if revision is not None and spec.space_revision != revision:
        raise TableError(f"the table at {folder} was built for {spec.space} revision {spec.space_revision}; this "
                         f"version's grid is revision {revision}: rebuild it with `table build`")
    curves: dict[int, dict[str, Curve]] = {}
    builds: dict[int, dict[str, Any]] = {}
    for seed in files.complete_seeds():
        curves[seed] = {config_key(c.params): c for c in read_curves(files.curves(seed))}
        builds[seed] = read_json(files.build(seed), "table-build") if files.build(seed).is_file() else {}
    if not curves:
        raise TableError(f"the table at {folder} has no complete seed yet; finish it with `table build`")
    return Table(folder, spec, curves, builds)


def final_epoch(history: np.ndarray, patience: int) -> int:
    """Index of the epoch whose weights a final fit with early stopping keeps (the first best of those it ran)."""
    return int(np.argmax(history[:early_stopping_length(history, patience)]))


def early_stopping_length(history: np.ndarray, patience: int) -> int:
    """Epochs Keras's EarlyStopping(monitor="val_accuracy", patience) lets run: it stops at the end of the first
    epoch that is `patience` epochs past the last strict improvement (and never after the first epoch alone)."""
    best, wait = -np.inf, 0
    for epoch, value in enumerate(history):
        wait += 1
        if value > best:
            best, wait = value, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch + 1
    return len(history)
