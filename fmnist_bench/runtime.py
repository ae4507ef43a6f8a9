"""Process-level TensorFlow setup for a study: threads, determinism, device choice, and naming the hardware.

Imported only inside study processes: the parent CLI never imports TensorFlow, so it starts fast and a study's
TensorFlow state (graphs, thread pools, GPU memory) dies with its process.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from .errors import ConfigError

__all__ = ["DEVICES", "configure", "cpu_model"]

DEVICES = ("auto", "cpu", "gpu")


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def configure(*, device: str, threads: int) -> str:
    """Set threads, op determinism and visible devices before any op runs; return a description of the device.

    Raises:
        ConfigError: `device="gpu"` on a machine where TensorFlow sees no GPU.
    """
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
        raise ConfigError("--device gpu was asked for, but TensorFlow sees no GPU; install the GPU build "
                          "(see README) or use --device cpu")
    if device == "cpu" or not gpus:
        if gpus:
            tf.config.set_visible_devices([], "GPU")
        return f"cpu: {cpu_model()} ({threads} threads)"
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    return "gpu: " + ", ".join(names)
