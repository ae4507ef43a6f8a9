"""The software and hardware a run used, read without importing TensorFlow (the parent process stays light)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from typing import Any

from ..engine.runtime import cpu_model, cpu_vector_isa, keras_backend, package_version

__all__ = ["collect_env", "software_identity", "software_stack", "utc_now"]


_TENSORFLOW = ("tensorflow", "tensorflow-cpu", "tf-nightly")  # the distributions that install it
_KERAS = ("keras", "tf-keras")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


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
    from .. import __version__

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
