"""The --device flag: a GPU asked for on a machine without one is a clear error; CPU is always available. And the
CPU's vector extensions, which runs record because other kernels round otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fmnist_bench.environment import cpu_vector_isa


@pytest.mark.parametrize(("device", "prefixes"), [
    pytest.param("cpu", ("cpu: ",), id="cpu"),
    pytest.param("auto", ("cpu: ", "gpu: "), id="auto"),
])
def test_device_is_named(device: str, prefixes: tuple[str, ...]) -> None:
    """The device line names the kind the backend trains on: the GPU where `auto` finds one, else the CPU with the
    threads it was given."""
    code = ("import tensorflow as tf; from fmnist_bench.engine.runtime import configure; "
            f"line = configure(device={device!r}, threads=1); "
            "print(bool(tf.config.list_physical_devices('GPU'))); print(line)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    has_gpu, line = out.stdout.strip().splitlines()[-2:]
    on_gpu = device == "auto" and has_gpu == "True"
    assert line.startswith(prefixes) and line.startswith("gpu: " if on_gpu else "cpu: "), line
    assert on_gpu or line.endswith("(1 threads)"), line


def test_gpu_without_a_gpu_is_a_clear_error() -> None:
    code = ("import tensorflow as tf, sys\n"
            "if tf.config.list_physical_devices('GPU'): sys.exit(99)\n"
            "from fmnist_bench.engine.runtime import configure\nconfigure(device='gpu', threads=1)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if out.returncode == 99:
        pytest.skip("this machine has a GPU, so --device gpu is not an error here")
    assert "ConfigError: --device gpu was asked for, but TensorFlow sees no GPU" in out.stderr


@pytest.mark.parametrize(("cpuinfo", "isa"), [
    pytest.param("model name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx f16c avx2 fma\n", "AVX2", id="zen3"),
    pytest.param("flags\t\t: fpu avx avx2 avx512f avx512bw avx512_bf16\n", "AVX-512", id="zen4"),
    pytest.param("flags\t\t: avx avx2 avx512f amx_bf16 amx_tile amx_int8\n", "AMX", id="sapphire-rapids"),
    pytest.param("flags\t\t: fpu sse sse2 sse4_2\n", None, id="no-avx"),
    pytest.param("processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 sve\n", "SVE", id="graviton3"),
    pytest.param("Features\t: fp asimd evtstrm aes\n", "NEON", id="graviton2"),
    pytest.param("processor\t: 0\n", None, id="no-flags-line"),
])
def test_the_cpus_widest_vector_extension_is_read_from_its_flags(cpuinfo: str, isa: str | None) -> None:
    assert cpu_vector_isa(cpuinfo) == isa
