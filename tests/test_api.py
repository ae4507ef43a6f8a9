"""The Python API, as a notebook uses it: a space from a file, arrays in memory, a typed result back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fmnist_bench
from fmnist_bench.errors import ConfigError, DataError
from conftest import SPACE, user_arrays as _arrays


@pytest.mark.slow
def test_compare_takes_a_space_from_a_file_and_arrays_from_memory(tmp_path: Path) -> None:
    space = tmp_path / "notebook_space.py"
    space.write_text(SPACE)
    results = tmp_path / "results"
    arrays = _arrays()
    first = fmnist_bench.compare(f"{space}:build_model", arrays, preset="smoke", strategies=["random", "hyperband"],
                                 seeds=1, results_dir=results, jobs=2)  # one seed: the API, not the statistics
    assert isinstance(first, fmnist_bench.Comparison) and first.failed == []
    assert [(s.strategy, s.seed) for s in first.studies] == [("random", 1), ("hyperband", 1)]
    assert first.studies[0].test.class_names == ("left", "middle", "right")
    assert first.verdict == "one seed, no verdict: one seed cannot separate the strategies."
    table = first.table
    assert list(table.columns[:4]) == ["strategy", "seed", "val_accuracy", "test_accuracy"]
    assert {"units", "learning_rate"} <= set(table.columns) and len(table) == 2
    stored = list((results / "data").glob("*.npz"))  # the arrays, once, named by their fingerprint
    assert len(stored) == 1 and first.config.data == str(stored[0])
    again = fmnist_bench.compare(f"{space}:build_model", arrays, preset="smoke", strategies=["random", "hyperband"],
                                 seeds=1, results_dir=results)  # the same arguments: the stored run
    assert again.run_id == first.run_id and again.studies == first.studies
    assert fmnist_bench.load(first.run_id, results).studies == first.studies
    assert fmnist_bench.load(first.path).run_id == first.run_id


def _local_build_model(hp):  # type: ignore[no-untyped-def]
    raise AssertionError("never built: only its location is read")


def test_a_space_object_is_named_by_its_file_and_a_notebook_one_is_refused(tmp_path: Path) -> None:
    from fmnist_bench.api import space_spec

    assert space_spec(_local_build_model) == f"{Path(__file__).resolve()}:_local_build_model"
    with pytest.raises(ConfigError, match="not defined at the top of a .py file.*%%writefile"):
        space_spec(lambda hp: None)
    with pytest.raises(DataError, match="has no y_test"):
        fmnist_bench.compare("ann", {"x_train": np.zeros((4, 2)), "y_train": np.zeros(4, int),
                                     "x_test": np.zeros((2, 2))}, results_dir=tmp_path)
