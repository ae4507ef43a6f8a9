"""The JAX backend's random translation: the same transformation as Keras's RandomTranslation, off at inference."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from fmnist_bench.engine.augment import RandomShift, shift_matrices, translation_layer
from fmnist_bench.environment import keras_major

# RandomShift is the JAX backend's layer, written in Keras 3's ops; Keras 2 (TF 2.15 in the tox matrix) has neither.
keras_3_only = pytest.mark.skipif(keras_major() < 3,
                                  reason="Keras 2 has no JAX backend, so it never builds RandomShift")


@keras_3_only
@pytest.mark.parametrize(("dy", "dx"), [(0.0, 0.0), (1.0, -2.0), (1.3, -2.6), (-0.45, 2.8)])
def test_shift_matrices_match_keras_affine_transform(dy: float, dx: float) -> None:
    images = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    rows = shift_matrices(np.array([dy], np.float32), 28)
    cols = shift_matrices(np.array([dx], np.float32), 28)
    ours = keras.ops.convert_to_numpy(keras.ops.einsum("bij,bjkc,blk->bilc", rows, images, cols))
    transform = np.array([[1, 0, -dx, 0, 1, -dy, 0, 0]], np.float32)  # output (y, x) reads input (y - dy, x - dx)
    reference = keras.ops.convert_to_numpy(keras.ops.image.affine_transform(
        images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0))
    np.testing.assert_allclose(ours, reference, atol=1e-5)


@keras_3_only
def test_random_shift_is_off_at_inference_and_bounded_in_training() -> None:
    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 14, 14, 0] = 1.0  # one bright pixel in the middle of each image
    layer = RandomShift(0.1, seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)
    moved = keras.ops.convert_to_numpy(layer(images, training=True))
    assert moved.shape == images.shape
    np.testing.assert_allclose(moved.sum(axis=(1, 2, 3)), 1.0, atol=1e-5)  # nothing falls off the image at 10%
    grid = np.arange(28, dtype=np.float32)
    rows = (moved[..., 0].sum(axis=2) * grid).sum(axis=1) - 14
    cols = (moved[..., 0].sum(axis=1) * grid).sum(axis=1) - 14
    assert np.abs(rows).max() <= 2.8 + 1e-4 and np.abs(cols).max() <= 2.8 + 1e-4  # 10% of 28 pixels
    assert np.abs(rows).std() > 0.5 and np.abs(cols).std() > 0.5  # each image gets its own shift
    assert RandomShift.from_config(layer.get_config()).factor == 0.1


def test_tensorflow_keeps_keras_random_translation() -> None:
    assert isinstance(translation_layer(0.05), keras.layers.RandomTranslation)


@keras_3_only
def test_the_cnn_space_trains_under_jax_with_the_matrix_translation() -> None:
    code = (
        "import numpy as np, keras, keras_tuner as kt\n"
        "from fmnist_bench.engine.augment import RandomShift\nfrom fmnist_bench.engine.spaces import build_space\n"
        "hp = kt.HyperParameters()\n"
        "hp.values.update(flip=True, translate=0.1, filters=16, kernel_size=3, batch_norm=True, conv_blocks=2,"
        " dropout=0.1, dense_units=64, learning_rate=1e-3)\n"
        "model = build_space('cnn').build(hp)\n"
        "assert sum(isinstance(layer, RandomShift) for layer in model.layers) == 1\n"
        "x = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)\n"
        "loss = model.fit(x, np.arange(64) % 10, epochs=1, batch_size=32, verbose=0).history['loss'][0]\n"
        "assert np.isfinite(loss)\n"
        "np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))\n"
        "print('ok', keras.backend.backend())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "ok jax"
