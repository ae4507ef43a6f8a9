"""Benchmarks measure the real thing on the real data; compare harness vs plain Keras as ratios of one run."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def splits():
    from fmnist_bench.data import load_raw, make_splits

    return make_splits(load_raw(), seed=1, val_size=6000)


@pytest.fixture(scope="session", autouse=True)
def deterministic_tf() -> None:
    """The harness's study settings: op determinism on (which requires a seed), as in every study process."""
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(1)
