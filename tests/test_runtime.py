"""The --device flag: a GPU asked for on a machine without one is a clear error; CPU is always available."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("device", "prefixes"), [
    pytest.param("cpu", ("cpu: ",), id="cpu"),
    pytest.param("auto", ("cpu: ", "gpu: "), id="auto"),
])
def test_device_is_named(device: str, prefixes: tuple[str, ...]) -> None:
    code = f"from fmnist_bench.engine.runtime import configure; print(configure(device={device!r}, threads=1))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith(prefixes), line
    if line.startswith("cpu: "):
        assert line.endswith("(1 threads)")


def test_gpu_without_a_gpu_is_a_clear_error() -> None:
    code = ("import tensorflow as tf, sys\n"
            "if tf.config.list_physical_devices('GPU'): sys.exit(99)\n"
            "from fmnist_bench.engine.runtime import configure\nconfigure(device='gpu', threads=1)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if out.returncode == 99:
        pytest.skip("this machine has a GPU, so --device gpu is not an error here")
    assert "ConfigError: --device gpu was asked for, but TensorFlow sees no GPU" in out.stderr
