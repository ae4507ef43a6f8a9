"""Keras backends: TensorFlow by default, JAX where only it has a GPU build, anything else refused in one line.

A run records its backend, the reports name it, and a run folder never mixes two backends' numerics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import rows_without_timing
from fmnist_bench import environment
from fmnist_bench.config import PRESETS
from fmnist_bench.environment import software_stack
from fmnist_bench.errors import ConfigError
from fmnist_bench.environment import keras_backend
from fmnist_bench.store import RunPaths


def _run(results: Path, backend: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fmnist_bench", "run", "--preset", "smoke", "--strategies", "random",
                           "--results-dir", str(results), *extra], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "KERAS_BACKEND": backend})


@pytest.mark.parametrize("name", ["torch", "numpy", "openvino"])
def test_unsupported_backends_are_refused(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", name)
    with pytest.raises(ConfigError, match=f"KERAS_BACKEND={name} is not supported; .* tensorflow or jax"):
        keras_backend()


def test_jax_under_keras_2_is_refused_rather_than_silently_trained_with_tensorflow(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(environment, "keras_version", lambda: "2.15.0")  # keras_major reads it too
    with pytest.raises(ConfigError, match=r"KERAS_BACKEND=jax needs Keras 3; this environment has Keras 2\.15\.0"):
        keras_backend()
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert keras_backend() == "tensorflow"


def test_the_torch_backend_fails_in_one_line_before_any_folder_is_made(tmp_path: Path) -> None:
    proc = _run(tmp_path / "results", "torch")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "fmnist-bench: error: KERAS_BACKEND=torch is not supported; fmnist-bench runs on tensorflow or jax "
        "(the default is tensorflow)"]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(("env", "expected"), [
    ({"keras_backend": "tensorflow", "tensorflow": "2.21.0", "jax": None, "keras": "3.15.1", "keras_tuner": "1.4.8"},
     "TF 2.21.0 / 3.15.1 / 1.4.8"),
    ({"keras_backend": "jax", "tensorflow": None, "jax": "0.11.2", "keras": "3.15.1", "keras_tuner": "1.4.8"},
     "JAX 0.11.2 / 3.15.1 / 1.4.8"),
    ({"tensorflow": "2.15.1", "keras": "2.15.0", "keras_tuner": "1.4.7"}, "TF 2.15.1 / 2.15.0 / 1.4.7"),  # pre-JAX run
])
def test_the_software_stack_names_the_backend_that_trained(env: dict, expected: str) -> None:
    assert software_stack(env) == expected


@pytest.mark.slow
@pytest.mark.usefixtures("real_data_available")
@pytest.mark.skipif(environment.keras_major() < 3, reason="Keras 2 has no JAX backend; its refusal is tested above")
def test_a_jax_run_is_recorded_as_such_reproducible_and_never_resumed_by_tensorflow(tmp_path: Path) -> None:
    study_dirs = []
    for name in ("a", "b"):
        proc = _run(tmp_path / name, "jax")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr and "Unable to initialize backend" not in proc.stderr
        study_dirs.append(RunPaths(tmp_path / name / "runs" / PRESETS["smoke"].replace(strategies=("random",)).run_id)
                          .study_dir("random", 1))
    run_root = study_dirs[0].parent.parent
    env = json.loads((run_root / "env.json").read_text())
    assert env["keras_backend"] == "jax" and env["jax"]
    study = json.loads((study_dirs[0] / "study.json").read_text())
    assert study["device"].startswith(("cpu: ", "gpu: ")) and study["device"].endswith(("(jax, all cores)", "(jax)"))
    assert study["test"]["accuracy"] > 0.5  # chance is 0.1
    assert f"JAX {env['jax']} / " in (tmp_path / "a" / "LEADERBOARD.md").read_text()
    first, second = (rows_without_timing(folder / "trials.csv") for folder in study_dirs)
    assert first == second  # same command twice, same trials and scores

    before = sorted(p.name for p in study_dirs[0].parent.iterdir())
    proc = _run(tmp_path / "a", "tensorflow", "--run-id", run_root.name)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"fmnist-bench: error: {run_root} holds a run trained with the jax backend and this process runs "
        "tensorflow; pass another --run-id")
    assert sorted(p.name for p in study_dirs[0].parent.iterdir()) == before
