"""Process-level backend setup for a study: threads, determinism, device choice, and naming the hardware.

The backend (TensorFlow, or JAX where only it has a GPU build) is imported only inside study processes: the parent
CLI never imports it, so it starts fast and a study's backend state (graphs, thread pools, GPU memory) dies with
its process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from ..environment import cpu_model, keras_backend
from ..errors import ConfigError

__all__ = ["DEVICES", "check_device", "configure"]

DEVICES = ("auto", "cpu", "gpu")


def configure(*, device: str, threads: int) -> str:
    """Set threads, determinism and visible devices before any op runs; return a description of the device.

    Raises:
        ConfigError: `device="gpu"` on a machine where the backend sees no GPU, or an unsupported backend.
    """
    if keras_backend() == "jax":
        return _configure_jax(device=device, threads=threads)
    return _configure_tensorflow(device=device, threads=threads)


def check_device(device: str) -> None:
    """Fail in one line, before any study starts, when `--device gpu` is asked of a machine whose backend sees no GPU.

    The backend is imported in a short-lived child (a few seconds, and only for `gpu`): the parent process never
    imports it (ARCHITECTURE.md), and every study would otherwise start only to fail with the same line.

    Raises:
        ConfigError: no GPU visible to the backend.
    """
    if device != "gpu":
        return
    probe = ("import sys; from fmnist_bench.errors import ConfigError\n"
             "from fmnist_bench.engine.runtime import configure\n"
             "try: configure(device='gpu', threads=1)\nexcept ConfigError as exc: sys.exit(str(exc))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise ConfigError(lines[-1] if lines else f"the GPU check exited with code {done.returncode}")


def _no_gpu(backend: str) -> ConfigError:
    return ConfigError(f"--device gpu was asked for, but {backend} sees no GPU; install its GPU build "
                       "(see README) or use --device cpu")


def _configure_tensorflow(*, device: str, threads: int) -> str:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF 2.21 logs tf.data attribute mismatches as errors
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised: only when a study runs inside a test process
        threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1
    tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise _no_gpu("TensorFlow")
    if device == "cpu" or not gpus:
        if gpus:
            tf.config.set_visible_devices([], "GPU")
        return f"cpu: {cpu_model()} ({threads} threads)"
    for gpu in gpus:  # --jobs N studies share the GPU: take memory as needed, not all of it up front
        tf.config.experimental.set_memory_growth(gpu, True)
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    return "gpu: " + ", ".join(names)


def _configure_jax(*, device: str, threads: int) -> str:
    # Read when JAX first creates its backends, which happens below: deterministic GPU kernels (as TF's op
    # determinism) and memory taken as needed, so that --jobs N studies can share one GPU.
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    logging.getLogger("jax").setLevel(logging.WARNING)  # its INFO lines (no TPU found...) are not progress
    import jax

    if device == "cpu":
        jax.config.update("jax_platforms", "cpu")
    try:
        gpus = jax.devices("gpu") if device != "cpu" else []
    except RuntimeError:  # JAX raises when it has no GPU backend at all
        gpus = []
    if device == "gpu" and not gpus:
        raise _no_gpu("JAX")
    if not gpus:
        # XLA's CPU client has no thread-count setting, so --threads cannot be honoured here; say so.
        return f"cpu: {cpu_model()} (jax, all cores)"
    return "gpu: " + ", ".join(d.device_kind for d in gpus) + " (jax)"
