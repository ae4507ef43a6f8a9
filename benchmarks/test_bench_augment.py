"""Random translation of a 256-image batch in training mode: Keras's RandomTranslation vs the matrix form.

Run under each backend (`KERAS_BACKEND=jax pytest benchmarks/test_bench_augment.py`) and compare the two rows of
one run: the matrix form exists because Keras's JAX image transform is slow (fmnist_bench/augment.py).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fmnist_bench.engine.augment import RandomShift


@pytest.mark.parametrize("layer_name", ["RandomTranslation", "RandomShift"])
def test_translate_batch(benchmark, layer_name: str) -> None:
    layer = (keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=1) if layer_name == "RandomTranslation"
             else RandomShift(0.1, seed=1))
    images = np.random.default_rng(0).random((256, 28, 28, 1), dtype=np.float32)

    def translate() -> np.ndarray:
        return keras.ops.convert_to_numpy(layer(images, training=True))

    backend = keras.backend.backend()
    benchmark.group = f"translate a 256-image batch ({backend} backend)"
    benchmark.extra_info["backend"] = backend
    out = benchmark(translate)
    assert out.shape == images.shape and not np.array_equal(out, images)
