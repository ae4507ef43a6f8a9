"""Bring your own search: a user's `build_model(hp)` and dataset through config, checks, live studies, a table and
its replay. Every bad input is one line and exit code 2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fmnist_bench.cli import main
from fmnist_bench.config import make_config
from fmnist_bench.data import make_splits
from fmnist_bench.datasets import load_user_data
from conftest import HANG_GUARD_SECONDS, SPACE, user_arrays as _arrays, with_fault
from fmnist_bench.errors import ConfigError, DataError

def _npz(tmp_path: Path, **arrays: np.ndarray) -> str:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return str(path)


def test_an_npz_loads_with_its_class_names_and_splits_a_tenth_for_validation(user_files: tuple[str, str]) -> None:
    space, data = user_files
    raw = load_user_data(data)
    assert raw.class_names == ("left", "middle", "right") and raw.input_shape == (4, 4)
    cfg = make_config("smoke", space=space, data=data)
    assert cfg.val_size == 15 and cfg.train_subset is None and cfg.target_accuracy is None
    splits = make_splits(raw, seed=1, val_size=cfg.val_size)
    assert (splits.x_train.shape, splits.x_val.shape, splits.x_test.shape) == ((135, 4, 4), (15, 4, 4), (60, 4, 4))
    assert cfg.run_id.startswith("smoke-my_space-build_model-my_data-")


def test_an_edited_space_or_changed_data_is_another_run(user_files: tuple[str, str], tmp_path: Path) -> None:
    space, data = user_files
    before = make_config("smoke", space=space, data=data).run_id
    Path(space.rsplit(":", 1)[0]).write_text(SPACE + "\n# tuned\n")
    edited = make_config("smoke", space=space, data=data).run_id
    np.savez(data, **_arrays(seed=1))
    assert len({before, edited, make_config("smoke", space=space, data=data).run_id}) == 3


@pytest.mark.parametrize("arrays, message", [
    pytest.param({"x_train": np.zeros((5, 2)), "y_train": np.zeros(5, int), "x_test": np.zeros((2, 2))},
                 r"has no y_test \(it needs x_train, y_train, x_test, y_test", id="missing array"),
    pytest.param({"x_train": np.zeros((5, 2)), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 2)),
                  "y_test": np.zeros(2, int)}, r"x_train has 5 examples but y_train has 4 labels", id="lengths"),
    pytest.param({"x_train": np.zeros((5, 2)), "y_train": np.array([0, 1, 0, 1, 0]), "x_test": np.zeros((2, 2)),
                  "y_test": np.array([0, 2])}, r"y_test holds label 2, outside the 2 classes 0 \.\. 1",
                 id="labels outside the classes"),
    pytest.param({"x_train": np.zeros((5, 2)), "y_train": np.array([0, 1, 0, 1, 3]), "x_test": np.zeros((2, 2)),
                  "y_test": np.array([0, 1]), "class_names": np.array(["a", "b"])},
                 r"y_train holds label 3, outside the 2 classes 0 \.\. 1 named by class_names", id="class names"),
    pytest.param({"x_train": np.zeros((5, 2)), "y_train": np.array([5, 6, 7, 5, 6]), "x_test": np.zeros((2, 2)),
                  "y_test": np.array([5, 6])}, r"y_train's labels run 0 \.\. 7 but have no example of 0, 1, 2, 3, 4;",
                 id="labels with a gap"),
    pytest.param({"x_train": np.zeros((5, 2)), "y_train": np.zeros(5, int), "x_test": np.zeros((2, 2)),
                  "y_test": np.zeros(2, int)}, r"y_train's labels run 0 \.\. 0 but name one class", id="one class"),
    pytest.param({"x_train": np.zeros((5, 2)), "y_train": np.zeros(5) + 0.5, "x_test": np.zeros((2, 2)),
                  "y_test": np.zeros(2, int)}, r"y_train must be a 1-D array of integer class labels", id="floats"),
    pytest.param({"x_train": np.zeros((5, 2)), "y_train": np.zeros(5, int), "x_test": np.zeros((2, 3)),
                  "y_test": np.zeros(2, int)}, r"x_test has examples of shape \(3,\), x_train of \(2,\)", id="shape"),
])
def test_bad_arrays_are_refused_in_one_line(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_user_data(_npz(tmp_path, **arrays))


def test_a_data_function_may_return_keras_load_data_tuples(tmp_path: Path) -> None:
    (tmp_path / "loader.py").write_text(
        "import numpy as np\n"
        "def load():\n    x = np.zeros((6, 3), np.float32)\n    y = np.array([0, 1, 2, 0, 1, 2])\n"
        "    return (x, y), (x[:3], y[:3])\n"
        "def broken():\n    raise RuntimeError('no network here')\n")
    raw = load_user_data(f"{tmp_path / 'loader.py'}:load")
    assert raw.class_names == ("0", "1", "2") and raw.x_val is None
    with pytest.raises(DataError, match=r"loader.py:broken raised RuntimeError: no network here"):
        load_user_data(f"{tmp_path / 'loader.py'}:broken")


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_bad_spaces_and_data_end_in_one_line_and_exit_2(user_files: tuple[str, str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    space, data = user_files
    results = ["--results-dir", str(tmp_path / "results")]
    (tmp_path / "broken.py").write_text("import keras\ndef build_model(hp)\n    return None\n")
    cases = [
        (["--space", f"{tmp_path / 'missing.py'}:build_model", "--data", data], "missing.py does not exist"),
        (["--space", f"{tmp_path / 'broken.py'}:build_model", "--data", data], "does not import: SyntaxError"),
        (["--space", f"{space.rsplit(':', 1)[0]}:build_it", "--data", data], "defines no 'build_it'"),
        (["--space", space, "--data", str(tmp_path / "none.npz")], "none.npz does not exist"),
        (["--space", "ann", "--data", data], "built for Fashion-MNIST"),
    ]
    for options, message in cases:
        assert main(["run", "--preset", "smoke", *options, *results]) == 2
        line = _error_line(capsys)
        assert line.startswith("fmnist-bench: error: ") and message in line, line


def test_a_space_that_does_not_fit_the_data_is_refused_before_any_study(user_files: tuple[str, str], tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    space, data = user_files
    wrong = tmp_path / "five.py"
    wrong.write_text(SPACE.replace("keras.layers.Dense(3)", "keras.layers.Dense(5)"))
    not_a_model = tmp_path / "nothing.py"
    not_a_model.write_text("def build_model(hp):\n    return hp.Int('units', 1, 3)\n")
    results = tmp_path / "results"
    for spec, message in ((f"{wrong}:build_model", "builds a model with 5 outputs, but the data has 3 classes"),
                          (f"{not_a_model}:build_model", "returned a int, not a keras.Model")):
        assert main(["run", "--preset", "smoke", "--space", spec, "--data", data, "--results-dir", str(results)]) == 2
        assert message in _error_line(capsys)
    # a dry run makes the same checks
    assert main(["run", "--preset", "smoke", "--space", f"{wrong}:build_model", "--data", data, "--results-dir",
                 str(results), "--dry-run"]) == 2
    assert "builds a model with 5 outputs" in _error_line(capsys)
    assert not (results / "runs").exists() or not any((results / "runs").rglob("study.json"))


def test_the_probe_finds_the_grid_and_warns_on_a_softmax_with_a_probability_loss(tmp_path: Path) -> None:
    from fmnist_bench.engine.userspace import SOFTMAX_WARNING, probe

    grid = tmp_path / "grid.py"
    grid.write_text(SPACE.replace('hp.Choice("units", [8, 16])', 'hp.Int("units", 8, 24, step=8)')
                    .replace("keras.layers.Dense(3)", "keras.layers.Dense(3, activation='softmax')")
                    .replace("keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
                             "'sparse_categorical_crossentropy'"))
    found = probe(f"{grid}:build_model", None, 3)
    assert found.grid == {"units": [8, 16, 24], "learning_rate": [0.01, 0.03]}
    assert found.warnings == [f"space {grid}:build_model {SOFTMAX_WARNING}"]
    continuous = tmp_path / "continuous.py"
    continuous.write_text(SPACE.replace('hp.Choice("learning_rate", [0.01, 0.03])',
                                        'hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")'))
    found = probe(f"{continuous}:build_model", None, 3)
    assert found.grid is None and "learning_rate" in found.not_grid and found.warnings == []
    with pytest.raises(ConfigError, match="has changed since this run was made"):
        probe(f"{continuous}:build_model", "0" * 16, 3)


def test_a_hypermodel_class_is_a_space_too(tmp_path: Path) -> None:
    from fmnist_bench.engine import probe

    hypermodel = tmp_path / "hyper.py"
    hypermodel.write_text(SPACE + "\n\nimport keras_tuner\n\n\nclass Space(keras_tuner.HyperModel):\n"
                          "    def build(self, hp):\n        return build_model(hp)\n")
    assert probe(f"{hypermodel}:Space", None, 3).grid == {"units": [8, 16], "learning_rate": [0.01, 0.03]}


@pytest.mark.slow
def test_a_users_space_and_data_run_live_with_each_oracle_resume_and_replay(
        user_files: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Live studies of each oracle (keras-tuner's three and Optuna's TPE; TPE's pruners run live in test_tpe) killed
    mid-run and resumed (the study processes import the user's file again), a rerun that only resumes, a two-seed
    table of the grid and its replay."""
    space, data = user_files
    results, tables = tmp_path / "results", tmp_path / "tables"
    live = ["run", "--preset", "smoke", "--space", space, "--data", data, "--results-dir", str(results),
            "--strategies", "random,hyperband,bayesian,tpe", "--jobs", "2"]
    assert main([*live, "--dry-run"]) == 0  # the space is built once in a child and passes; nothing is trained
    assert f"space: checked ({space} builds a model for them)" in capsys.readouterr().out
    victim = subprocess.Popen([sys.executable, "-m", "fmnist_bench", *live], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True,
                              env=with_fault("hyperband-seed1", 1, "SIGKILL", "group"))
    assert victim.wait(timeout=HANG_GUARD_SECONDS) == -signal.SIGKILL
    (killed,) = (results / "runs").iterdir()
    assert not (killed / "studies" / "hyperband-seed1" / "study.json").exists()
    assert main(live) == 0  # resumes the killed run to the end
    out = capsys.readouterr().out
    assert len(list(killed.glob("studies/*/study.json"))) == 4
    summary = (killed / "summary.md").read_text()
    assert f"{data} (fingerprint " in summary and "validation 15, test 60 " in summary  # not Fashion-MNIST's sizes
    study = json.loads(next(results.rglob("random-seed1/study.json")).read_text())
    assert study["test"]["class_names"] == ["left", "middle", "right"]
    assert len(study["test"]["confusion"]) == 3
    assert main(live) == 0  # complete: resumes nothing, prints the same table
    assert capsys.readouterr().out.splitlines()[:6] == out.splitlines()[:6]
    for seed in ("1", "2"):
        assert main(["table", "build", "--space", space, "--data", data, "--seed", seed, "--tables-dir",
                     str(tables)]) == 0
    assert main(["run", "--space", space, "--data", data, "--replay", "--seeds", "20", "--tables-dir", str(tables),
                 "--results-dir", str(results), "--strategies", "random,hyperband"]) == 0
    replayed = [p for p in (results / "runs").iterdir() if "-replay-" in p.name]
    assert len(replayed) == 1 and (replayed[0] / "studies.jsonl.gz").is_file()
