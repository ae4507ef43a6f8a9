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
from fmnist_bench.tabular.table import early_stopping_length

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


def test_a_build_of_chosen_configurations_trains_those_and_refuses_one_outside_the_grid(built: Path,
                                                                                        tmp_path: Path) -> None:
    from fmnist_bench.cli import main
    from fmnist_bench.tabular import read_chosen, write_chosen

    chosen = [SPEC.configs()[3], SPEC.configs()[0]]
    listing = tmp_path / "chosen.json"
    write_chosen(listing, {"rule": "two of four", "configs": [{"params": c, "reason": "test"} for c in chosen]})
    assert read_chosen(listing) == sorted(chosen, key=config_key)
    folder = tmp_path / "tables" / "ann-grid"
    folder.mkdir(parents=True)
    (folder / "table.json").write_bytes((built / "ann-grid" / "table.json").read_bytes())
    _build(tmp_path / "tables", chosen=read_chosen(listing))
    curves = read_curves(TablePaths(folder).curves(1))
    assert [config_key(c.params) for c in curves] == [config_key(SPEC.configs()[0]), config_key(SPEC.configs()[3])]
    assert json.loads(TablePaths(folder).build(1).read_text())["chosen"] is True
    listing.write_text(json.dumps([{**chosen[0], "neurons": 4096}]))
    assert main(["table", "build", "--configs", str(listing), "--tables-dir", str(tmp_path / "other")]) == 2
    listing.write_text("[")
    assert main(["table", "build", "--configs", str(listing), "--tables-dir", str(tmp_path / "other")]) == 2
    assert main(["table", "build", "--configs", str(listing), "--sample", "2"]) == 2


def test_a_backend_check_chooses_the_top_the_one_backend_failures_and_controls() -> None:
    """Two backends' seeds of a 6-configuration grid: configuration 0 is best, 5 fails on backend b only, 4 fails
    on both (so it is not a one-backend failure)."""
    from fmnist_bench.tabular import Curve, Table
    from fmnist_bench.tabular import backend_check_configs

    grid = {"n_hidden_layers": [1], "neurons": [1, 2, 3, 4, 5, 6], "activation": ["relu"], "learning_rate": [0.01]}
    spec = TableSpec(space="ann-grid", space_revision=1, split_seed=1, val_size=10, batch_size=1, epochs=2,
                     grid=grid)
    score = {"a": [0.9, 0.85, 0.84, 0.83, 0.5, 0.86], "b": [0.91, 0.86, 0.84, 0.82, 0.5, 0.6]}

    def curve(params: dict, value: float) -> Curve:
        ones = np.ones(2)
        return Curve(params=params, seed=1, loss=ones, accuracy=ones, val_loss=ones, val_accuracy=value * ones,
                     test_accuracy=ones, seconds=ones, confusion=np.zeros((2, 10, 10)), setup_seconds=1.0)

    backends = {1: "a", 2: "b", 3: "b"}
    table = Table(Path("t"), spec, {s: {config_key(c): curve(c, score[b][i]) for i, c in enumerate(spec.configs())}
                                    for s, b in backends.items()},
                  {s: {"env": {"keras_backend": b}} for s, b in backends.items()})
    chosen = backend_check_configs(table, epochs=2, top=1, controls=2, seed=1)
    reasons = {c["params"]["neurons"]: c["reason"] for c in chosen["configs"]}
    assert reasons[1] == "top" and reasons[6] == "fails on one backend" and len(reasons) == 4
    assert list(reasons.values()).count("control") == 2
    assert chosen == backend_check_configs(table, epochs=2, top=1, controls=2, seed=1)  # fixed by its seed


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


def test_the_early_stopping_rule_matches_keras() -> None:
    import keras

    histories = [[0.5, 0.6, 0.6, 0.55, 0.7, 0.71], [0.9, 0.8, 0.7, 0.95], [0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3]]
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    for history in histories:
        for patience in (1, 2, 3):
            # mode "max" is what a compiled model's accuracy metric makes Keras infer in the live final fit
            callback = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=patience,
                                                     restore_best_weights=True)
            callback.set_model(model)
            model.stop_training = False
            callback.on_train_begin()
            ran = 0
            for epoch, value in enumerate(history):
                callback.on_epoch_end(epoch, {"val_accuracy": value})
                ran = epoch + 1
                if model.stop_training:
                    break
            assert early_stopping_length(np.array(history), patience) == ran, (history, patience)
