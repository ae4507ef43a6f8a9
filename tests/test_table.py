"""The table builder on a real-data subset: curves as trained, resume after a kill, refusal of another spec; and
live `ann-grid` studies proposing what their replay proposes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fmnist_bench.errors import TableError
from fmnist_bench.store import TablePaths
from fmnist_bench.tabular import TableSpec, config_key, load_table, read_curves
from fmnist_bench.tabular import build_table

pytestmark = pytest.mark.usefixtures("real_data_available")

SPEC = TableSpec(space="ann-grid", space_revision=1, split_seed=1, val_size=500, batch_size=128, epochs=2,
                 train_subset=2000, grid={"n_hidden_layers": [1], "neurons": [32, 64], "activation": ["relu"],
                                          "learning_rate": [0.00158, 0.01]})


def _build(tables: Path, spec: TableSpec = SPEC, **kwargs) -> Path:
    return build_table(spec, 1, tables_dir=tables, data_dir=None, device="cpu", jobs=2, threads=1,
                       progress=lambda line: None, **kwargs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tables = tmp_path_factory.mktemp("tables")
    _build(tables)
    return tables


def test_a_build_stores_every_configuration_with_its_epochs_and_test_scores(built: Path) -> None:
    table = load_table(built / "ann-grid")
    curves = table.curves[1]
    assert set(curves) == {config_key(c) for c in SPEC.configs()} and table.seeds == [1]
    for curve in curves.values():
        assert curve.epochs == 2 and np.all(curve.seconds > 0) and curve.setup_seconds > 0
        assert np.all((0.1 < curve.val_accuracy) & (curve.val_accuracy <= 1))  # it learned beyond chance
        assert curve.confusion.shape == (2, 10, 10) and np.all(curve.confusion.sum(axis=(1, 2)) == 10_000)
        accuracy = np.trace(curve.confusion, axis1=1, axis2=2) / 10_000
        assert np.allclose(accuracy, curve.test_accuracy)
    record = json.loads(TablePaths(built / "ann-grid").build(1).read_text())
    assert record["configs"] == 4 and record["wall_seconds"] > 0 and record["env"]["keras_tuner"]
    assert not TablePaths(built / "ann-grid").partial(1).exists()  # the partial file is gone once complete


def test_a_killed_build_resumes_and_retrains_only_what_is_missing(built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ann-grid"
    folder.mkdir()
    source = built / "ann-grid"
    (folder / "table.json").write_bytes((source / "table.json").read_bytes())
    import gzip

    lines = gzip.decompress(TablePaths(source).curves(1).read_bytes()).decode().splitlines()
    # what a kill leaves: two curves appended, a third cut off mid-line
    TablePaths(folder).partial(1).write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:100])
    _build(tmp_path)
    resumed = {config_key(c.params): c for c in read_curves(TablePaths(folder).curves(1))}
    kept = [json.loads(line) for line in lines[:2]]
    assert len(resumed) == 4
    for old in kept:  # the finished curves were kept as they were, not retrained
        assert resumed[config_key(old["params"])].setup_seconds == old["setup_seconds"]


def test_a_table_of_another_spec_is_refused(built: Path) -> None:
    with pytest.raises(TableError, match="another spec .*epochs 2 vs 3"):
        _build(built, TableSpec(**{**SPEC.to_dict(), "epochs": 3}))


def test_a_sample_must_fit_the_grid(tmp_path: Path) -> None:
    from fmnist_bench.errors import ConfigError

    with pytest.raises(ConfigError, match="between 1 and the grid's 4"):
        _build(tmp_path, sample=5)


@pytest.mark.slow
def test_a_live_ann_grid_study_proposes_what_its_replay_proposes(tmp_path: Path) -> None:
    """Random search ignores scores: live and replayed, the same seed must propose the same configurations."""
    from fmnist_bench.config import make_config
    from fmnist_bench.tabular.replay import load_replay_table, replay_study

    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "fmnist_bench", "-q", "run", "--preset", "smoke", "--space",
                           "ann-grid", "--strategies", "random", "--results-dir", str(results)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = (results / "runs").iterdir()
    live = [t["params"] for t in json.loads((run / "studies" / "random-seed1" / "records.json").read_text())["trials"]]
    cfg = make_config("standard", space="ann-grid", replay=True, epochs_per_trial=2, budget_epochs=6)
    tables = Path(__file__).resolve().parents[1] / "results" / "tables"
    _, trials, _ = replay_study(cfg, "random", 1, load_replay_table(cfg, tables))
    assert live == [t.params for t in trials] and len(live) == 3


def test_a_build_says_what_it_will_take_before_it_starts(tmp_path: Path) -> None:
    """From an earlier seed built on this machine where there is one; else, for the built-in grid, from the fitted
    cost per epoch; a user's grid on a new machine is told that no basis exists yet, not given a number."""
    import os

    from fmnist_bench.environment import cpu_model
    from fmnist_bench.markdown import fmt_seconds
    from fmnist_bench.tabular.build import build_estimate, relative_cost, sample_configs

    files = TablePaths(tmp_path)
    todo = sample_configs(SPEC, None, 1)
    fitted = sum(relative_cost(c) for c in todo) * SPEC.epochs / 2
    assert f"{len(todo)} configurations" in build_estimate(SPEC, todo, files, jobs=2)
    assert f"about {fmt_seconds(fitted)} " in build_estimate(SPEC, todo, files, jobs=2)
    user = TableSpec(space="my.py:build_model", space_revision=1, split_seed=1, val_size=5, batch_size=8, epochs=3,
                     grid={"units": [8, 16]}, space_fingerprint="f" * 16)
    assert "has not measured" in build_estimate(user, todo, files, jobs=2)
    files.build(1).write_text(json.dumps({"kind": "table-build", "schema": 1, "configs": 10, "jobs": 2,
                                          "wall_seconds": 50.0, "env": {"cpu": cpu_model(),
                                                                        "cpu_count": os.cpu_count()}}))
    files.clock(2).write_text(json.dumps({"kind": "clock", "schema": 1, "seconds": 1.0}))  # not a finished seed
    said = build_estimate(user, todo, files, jobs=1)  # 10 s per configuration and job, one job
    assert f"about {fmt_seconds(len(todo) * 10)} " in said and "seed1's build on this machine" in said
    files.build(1).write_text(json.dumps({"kind": "table-build", "schema": 1, "configs": 10, "jobs": 2,
                                          "wall_seconds": 50.0, "env": {"cpu": "another CPU", "cpu_count": 2}}))
    assert "has not measured" in build_estimate(user, todo, files, jobs=1)
