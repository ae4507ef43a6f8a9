"""Where an epoch's time goes: the reference MLP at several batch sizes, with and without XLA (jit_compile).

These numbers chose the default batch size (256) and jit setting (off); see docs/performance.md.
"""

from __future__ import annotations

import keras
import pytest

REFERENCE_FLOPS_PER_IMAGE = 6 * (784 * 256 + 256 * 256 + 256 * 10)  # fwd + bwd ~ 3 x (2 x MACs)


@pytest.mark.parametrize("jit", [False, True], ids=["eager-graph", "xla"])
@pytest.mark.parametrize("batch_size", [64, 128, 256, 512])
def test_epoch_by_batch_size(benchmark, splits, batch_size: int, jit: bool) -> None:
    benchmark.group = "reference MLP epoch by batch size and jit_compile (train only)"
    models = []
    for _ in range(3):
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                  keras.layers.Dense(256, activation="relu"),
                                  keras.layers.Dense(256, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=jit)
        models.append(model)
    pending = iter(models)

    def epoch() -> None:
        next(pending).fit(splits.x_train, splits.y_train, epochs=1, batch_size=batch_size, verbose=0)

    benchmark.pedantic(epoch, rounds=2, iterations=1, warmup_rounds=1)
    benchmark.extra_info["images"] = len(splits.y_train)
    benchmark.extra_info["gflops_per_s"] = (REFERENCE_FLOPS_PER_IMAGE * len(splits.y_train)
                                            / benchmark.stats.stats.median / 1e9)
