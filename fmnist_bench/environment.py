"""The software and hardware a run uses, read without importing a backend: versions from package metadata, the CPU
from /proc/cpuinfo, the Keras backend from the environment.

Backend-free on purpose: the parent process, the reports and the tabular code read and compare environments
(`env.json`, a Dask worker's software) without loading TensorFlow or JAX; `engine.runtime` sets the backend up
inside the processes that train.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["BACKENDS", "collect_env", "cpu_model", "cpu_vector_isa", "device_class", "keras_backend", "keras_major",
           "keras_version", "like_this_machine", "package_version", "software_identity", "software_stack", "utc_now"]

BACKENDS = ("tensorflow", "jax")


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what `platform` knows."""
    for line in _proc_cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _proc_cpuinfo() -> str:
    """/proc/cpuinfo's text; empty where there is none (not Linux)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


# Widest first: oneDNN, which runs TensorFlow's dense and convolution kernels on the CPU, picks its kernels by these.
_VECTOR_ISAS = (("amx_tile", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sve", "SVE"),
                ("asimd", "NEON"))


def cpu_vector_isa(cpuinfo: str | None = None) -> str | None:
    """The widest vector extension the CPU offers ('AVX-512', 'AVX2', ...), None where /proc/cpuinfo does not say.

    Recorded because it changes results: the same command gives the same records on one machine, but oneDNN picks
    other kernels on a CPU with other extensions, and their rounding moves losses in the last digits and can move a
    validation accuracy by an image (docs/method.md, Reproducibility).
    """
    for line in (_proc_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags = set(value.split())
            return next((name for flag, name in _VECTOR_ISAS if flag in flags), None)
    return None


def keras_backend() -> str:
    """The Keras backend of this process: $KERAS_BACKEND, TensorFlow unless the user picked JAX.

    JAX exists for GPU machines that carry JAX but no TensorFlow GPU build (and nothing to install one from); the
    harness, its search spaces (translation aside, see `augment`) and keras-tuner are the same on both. Torch is
    refused: this project never loads it.

    Raises:
        ConfigError: any other backend.
    """
    name = os.environ.get("KERAS_BACKEND", "tensorflow")
    if name not in BACKENDS:
        raise ConfigError(f"KERAS_BACKEND={name} is not supported; fmnist-bench runs on "
                          f"{' or '.join(BACKENDS)} (the default is tensorflow)")
    if name != "tensorflow" and keras_major() < 3:
        # Keras 2 ignores KERAS_BACKEND and trains with TensorFlow: recording "jax" would be a lie
        raise ConfigError(f"KERAS_BACKEND={name} needs Keras 3; this environment has Keras {keras_version()} "
                          "(TensorFlow only)")
    return name


def package_version(*distributions: str) -> str | None:
    """Version of the first installed distribution among `distributions` (e.g. tensorflow or tensorflow-cpu), read
    from package metadata so that the parent process never imports the package."""
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def keras_version() -> str | None:
    return package_version("keras")


def keras_major() -> int:
    """Major version of the installed Keras (3 when none is installed: the version pip would bring)."""
    return int((keras_version() or "3").split(".")[0])


def device_class(device: str) -> str:
    """'cpu' or 'gpu': the kind of machine a study's recorded device (`cpu: AMD EPYC (2 threads)`) ran on."""
    return device.split(":", 1)[0]



_TENSORFLOW = ("tensorflow", "tensorflow-cpu", "tf-nightly")  # the distributions that install it
_KERAS = ("keras", "tf-keras")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def like_this_machine(env: dict[str, Any]) -> bool:
    """Whether a record's environment (`collect_env`'s) was this kind of machine, so that its times compare with
    ours: the same CPU model and core count."""
    return (env.get("cpu"), env.get("cpu_count")) == (cpu_model(), os.cpu_count())


def numpy_blas() -> str | None:
    """The BLAS numpy was built with ('scipy-openblas 0.3.31.188.0'): with the CPU's vector extension it decides
    the last digits of keras-tuner's Bayesian oracle (its Gaussian process), so two machines can replay one seed
    differently (docs/method.md). None where numpy does not say."""
    try:
        import numpy as np

        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas['version']}"
    except Exception:  # numpy < 1.26 has no dict mode; a build without the section
        return None


def collect_env() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "keras_backend": keras_backend(),
        "tensorflow": package_version(*_TENSORFLOW),
        "jax": package_version("jax"),
        "keras": package_version(*_KERAS),
        "keras_tuner": package_version("keras-tuner"),
        "numpy": package_version("numpy"),
        "numpy_blas": numpy_blas(),
        "scikit_learn": package_version("scikit-learn"),
        "cpu": cpu_model(),
        "cpu_isa": cpu_vector_isa(),
        "cpu_count": os.cpu_count(),
        "executable": sys.executable,
        "started_at": utc_now(),
    }


def software_identity() -> dict[str, str | None]:
    """What a Dask worker must share with the process that sends it tasks: the harness, the Keras backend and the
    versions of the libraries that decide a trained curve or an oracle's proposal."""
    from . import __version__

    backend = keras_backend()
    return {"fmnist_bench": __version__, "keras_backend": backend,
            "backend_version": package_version(*(_TENSORFLOW if backend == "tensorflow" else (backend,))),
            "keras": package_version(*_KERAS), "keras_tuner": package_version("keras-tuner"),
            "numpy": package_version("numpy"), "scikit_learn": package_version("scikit-learn")}


def software_stack(env: dict[str, Any]) -> str:
    """'TF 2.21.0 / 3.15.1 / 1.4.8': the backend that trained (runs stored before JAX support are TensorFlow's)."""
    backend = env.get("keras_backend", "tensorflow")
    label, version = ("TF", env.get("tensorflow")) if backend == "tensorflow" else (backend.upper(), env.get(backend))
    return f"{label} {version} / {env.get('keras')} / {env.get('keras_tuner')}"
