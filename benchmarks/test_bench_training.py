"""Throughput of one epoch of the reference MLP 784-256-256-10: the harness's model vs the same net in plain Keras
at the same `steps_per_execution`, timed in alternating pairs (see `conftest.alternate_pairs`)."""

from __future__ import annotations

import keras
import keras_tuner as kt

from conftest import alternate_pairs
from fmnist_bench.config import PRESETS
from fmnist_bench.engine.spaces import STEPS_PER_EXECUTION, AnnSpace

BATCH = PRESETS["standard"].batch_size
REFERENCE = {"n_hidden_layers": 2, "neurons": 256, "activation": "relu", "learning_rate": 1e-3}
PAIRS = 5


def _plain_model() -> keras.Model:
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    # the harness's setting, so that the ratio measures the harness and not this setting
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    return model


def _harness_model() -> keras.Model:
    hp = kt.HyperParameters()
    hp.values.update(REFERENCE)
    return AnnSpace().build(hp)


def test_epoch_throughput(benchmark, splits) -> None:
    benchmark.group = "epoch of 784-256-256-10"
    models = {"harness": iter([_harness_model() for _ in range(PAIRS + 1)]),  # building is not an epoch's cost
              "plain": iter([_plain_model() for _ in range(PAIRS + 1)])}

    def one_epoch(name: str) -> None:
        next(models[name]).fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                               epochs=1, batch_size=BATCH, verbose=0)

    alternate_pairs(benchmark, ("harness", lambda: one_epoch("harness")), ("plain", lambda: one_epoch("plain")),
                    pairs=PAIRS)
    benchmark.extra_info["images"] = len(splits.y_train)
    benchmark.extra_info["batch_size"] = BATCH
