"""Throughput of one epoch of the reference MLP 784-256-256-10: the harness's model and fit vs plain model.fit."""

from __future__ import annotations

import keras
import keras_tuner as kt

from fmnist_bench.config import PRESETS
from fmnist_bench.spaces import AnnSpace

BATCH = PRESETS["standard"].batch_size
REFERENCE = {"n_hidden_layers": 2, "neurons": 256, "activation": "relu", "learning_rate": 1e-3}
ROUNDS = 5


def _plain_model() -> keras.Model:
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _harness_model() -> keras.Model:
    hp = kt.HyperParameters()
    hp.values.update(REFERENCE)
    return AnnSpace().build(hp)


def _epoch(benchmark, splits, build) -> None:
    models = iter([build() for _ in range(ROUNDS + 1)])  # building is not part of an epoch's cost

    def one_epoch():
        next(models).fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                         epochs=1, batch_size=BATCH, verbose=0)

    benchmark.pedantic(one_epoch, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    benchmark.extra_info["images"] = len(splits.y_train)
    benchmark.extra_info["batch_size"] = BATCH


def test_epoch_plain_keras(benchmark, splits) -> None:
    benchmark.group = "epoch of 784-256-256-10"
    _epoch(benchmark, splits, _plain_model)


def test_epoch_harness(benchmark, splits) -> None:
    benchmark.group = "epoch of 784-256-256-10"
    _epoch(benchmark, splits, _harness_model)
