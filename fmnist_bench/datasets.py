"""Which data a run reads: Fashion-MNIST (the built-in task), or the user's own arrays.

`--data FILE.npz` holds the arrays `x_train`, `y_train`, `x_test`, `y_test` (and optionally `x_val`, `y_val` and
`class_names`); `--data FILE.py:NAME` names a function that returns the same as a dict, or Keras's own
`((x_train, y_train), (x_test, y_test))`. Every problem with them is one line (`DataError`) that says what was
expected and what was found, before any study starts.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .data import RawData, load_raw
from .errors import ConfigError, DataError
from .sources import is_source, load_object, parse_source

__all__ = ["REQUIRED", "checked_arrays", "load_checked", "load_dataset", "load_user_data"]

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_val", "y_val", "class_names")


def load_dataset(data: str | None, data_dir: Path | None = None) -> RawData:
    """The run's data: Fashion-MNIST (located through `data_dir`) when `data` is None, else the user's.

    Raises:
        DataError: missing, unreadable or inconsistent data, in one line.
    """
    return load_raw(data_dir) if data is None else load_user_data(data)


def load_checked(data: str | None, fingerprint: str | None, data_dir: Path | None = None) -> RawData:
    """A run's data (`RunConfig.data`), checked to be the data the run was made with (a user's, by its
    `fingerprint`).

    Raises:
        DataError: as `load_dataset`, or the user's data changed since the run was made.
    """
    raw = load_dataset(data, data_dir)
    if data is not None and raw.fingerprint() != fingerprint:
        raise DataError(f"data {data} has changed since this run was made (fingerprint {raw.fingerprint()}, the "
                        f"run's {fingerprint}); changed data is a new run: run the same command without --run-id, "
                        "or restore the data")
    return raw


def load_user_data(data: str) -> RawData:
    """Load and check `FILE.npz` or `FILE.py:NAME` (see the module's docstring).

    Raises:
        DataError: a missing array, mismatched lengths, labels that are not 0 .. n_classes - 1, or a file or function
            that cannot be read or called.
    """
    if is_source(data):
        try:
            loader = load_object(parse_source(data, what="data"), what="data")
        except ConfigError as exc:
            raise DataError(str(exc)) from None
        if not callable(loader):
            raise DataError(f"--data {data} names a {type(loader).__name__}, not a function that returns the arrays")
        try:
            arrays = loader()
        except Exception as exc:  # the user's loader failed: one line that names it
            raise DataError(f"--data {data} raised {type(exc).__name__}: {exc}") from None
        return checked_arrays(arrays, data)
    return checked_arrays(_read_npz(Path(data)), data)


def checked_arrays(value: Any, data: str) -> RawData:
    """A dataset from arrays (a dict, or Keras's `load_data()` tuples), checked; `data` names it in the errors.

    Raises:
        DataError: see `load_user_data`.
    """
    return _checked(_as_mapping(value, data), data)


def _read_npz(path: Path) -> dict[str, Any]:
    if path.suffix != ".npz":
        raise DataError(f"--data {path}: expected an .npz file (arrays x_train, y_train, x_test, y_test) or "
                        "FILE.py:NAME (a function returning them)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise DataError(f"--data {path} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"--data {path} is not a readable .npz file ({exc})") from None


def _as_mapping(value: Any, data: str) -> Mapping[str, Any]:
    """A dict of arrays, or Keras's `load_data()` form `((x_train, y_train), (x_test, y_test))`."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        (x_train, y_train), (x_test, y_test) = value
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    raise DataError(f"--data {data} returned a {type(value).__name__}; return a dict with "
                    f"{', '.join(REQUIRED)} (optionally {', '.join(OPTIONAL)}), or "
                    "((x_train, y_train), (x_test, y_test)) as keras.datasets' load_data() does")


def _checked(arrays: Mapping[str, Any], data: str) -> RawData:
    missing = [name for name in REQUIRED if name not in arrays]
    if missing:
        raise DataError(f"--data {data} has no {', '.join(missing)} (it needs {', '.join(REQUIRED)}; optional: "
                        f"{', '.join(OPTIONAL)})")
    unknown = sorted(set(arrays) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise DataError(f"--data {data} has arrays this harness does not read: {', '.join(unknown)} (expected "
                        f"{', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)})")
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DataError(f"--data {data} has {'x_val' if 'x_val' in arrays else 'y_val'} without its pair; give both "
                        "or neither")
    parts = [("train", "x_train", "y_train"), ("test", "x_test", "y_test")]
    if "x_val" in arrays:
        parts.insert(1, ("val", "x_val", "y_val"))
    x: dict[str, np.ndarray] = {}
    y: dict[str, np.ndarray] = {}
    for part, x_name, y_name in parts:
        inputs, labels = np.asarray(arrays[x_name]), np.asarray(arrays[y_name])
        if inputs.ndim < 2 or not (np.issubdtype(inputs.dtype, np.number) or inputs.dtype == bool):
            raise DataError(f"--data {data}: {x_name} must be a numeric array of examples (n, ...), found dtype "
                            f"{inputs.dtype} and shape {inputs.shape}")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"--data {data}: {y_name} must be a 1-D array of integer class labels, found dtype "
                            f"{labels.dtype} and shape {labels.shape}")
        if inputs.shape[0] != labels.shape[0]:
            raise DataError(f"--data {data}: {x_name} has {inputs.shape[0]} examples but {y_name} has "
                            f"{labels.shape[0]} labels")
        if inputs.shape[0] == 0:
            raise DataError(f"--data {data}: {x_name} is empty")
        if inputs.shape[1:] != np.asarray(arrays["x_train"]).shape[1:]:
            raise DataError(f"--data {data}: {x_name} has examples of shape {inputs.shape[1:]}, x_train of "
                            f"{np.asarray(arrays['x_train']).shape[1:]}")
        x[part], y[part] = inputs, labels
    class_names = _class_names(arrays, y["train"], data)
    for part, labels in y.items():
        outside = labels[(labels < 0) | (labels >= len(class_names))]
        if outside.size:
            raise DataError(f"--data {data}: y_{part} holds label {int(outside[0])}, outside the {len(class_names)} "
                            f"classes 0 .. {len(class_names) - 1}"
                            + (" named by class_names" if "class_names" in arrays else " seen in y_train"))
    return RawData(x["train"], y["train"], x["test"], y["test"], x.get("val"), y.get("val"), class_names)


def _class_names(arrays: Mapping[str, Any], y_train: np.ndarray, data: str) -> tuple[str, ...]:
    """The dataset's class names, or "0" .. "k-1" for the k = max(y_train) + 1 classes its labels show."""
    if "class_names" not in arrays:
        if y_train.min() < 0:
            raise DataError(f"--data {data}: y_train holds label {int(y_train.min())}; labels are 0 .. n_classes - 1")
        # without names the labels define the classes, so a gap is far likelier a labelling slip (labels 1 .. k, or
        # a subset's) than a class with no training example, and it would give the model outputs nothing trains
        absent = sorted(set(range(int(y_train.max()) + 1)) - set(np.unique(y_train).tolist()))
        if absent or y_train.max() < 1:
            missing = ", ".join(map(str, absent[:5])) + (" ..." if len(absent) > 5 else "")
            raise DataError(f"--data {data}: y_train's labels run 0 .. {int(y_train.max())} but "
                            + (f"have no example of {missing}" if absent else "name one class")
                            + "; labels are 0 .. n_classes - 1 with every class present (np.unique(y, "
                            "return_inverse=True) renumbers them), or pass class_names")
        return tuple(str(k) for k in range(int(y_train.max()) + 1))
    names = tuple(str(name) for name in np.asarray(arrays["class_names"]).ravel())
    if len(names) < 2 or len(set(names)) != len(names):
        raise DataError(f"--data {data}: class_names must name at least two classes, each once; found {list(names)}")
    return names
