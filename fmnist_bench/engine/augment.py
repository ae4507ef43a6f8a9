"""Random translation as two small matrix products per image, for the JAX backend.

Keras's `RandomTranslation` resamples images through its backend's image transform. Under JAX that is
`map_coordinates`, and on a GPU it made a CNN epoch more than 100 times slower (an H200: 0.08 s per 12,288 images
without it, not one epoch in 40 s with it; keras-team/keras#23229). A translation needs no general resampling: with
bilinear interpolation it is separable, `out = rows @ image @ cols.T`, where each matrix holds the 1-D linear
interpolation weights of one shift. At 28 x 28 that is a few MFLOP per batch, which any device does at once.

The layer computes the same transformation as `RandomTranslation(f, f, fill_mode="constant")` (a test checks
against Keras's own transform) but draws its shifts from another random stream, so it is used under JAX only and
TensorFlow runs keep the layer, and the numbers, they always had.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["RandomShift", "shift_matrices", "translation_layer"]


def shift_matrices(shifts: Any, size: int) -> Any:
    """(batch, size, size) matrices that move a length-`size` signal by `shifts` pixels (bilinear, zero fill).

    Row i of a matrix samples the input at position i - shift: weight 1 - |i - shift - j| on the (at most two)
    input pixels j within one pixel of it, and nothing for positions outside the image.
    """
    index = keras.ops.arange(size, dtype="float32")
    distance = index[:, None] - index[None, :] - keras.ops.reshape(shifts, (-1, 1, 1))
    return keras.ops.relu(1.0 - keras.ops.abs(distance))


@keras.saving.register_keras_serializable(package="fmnist_bench")
class RandomShift(keras.layers.Layer):
    """Shift each image by up to `factor` of its height and of its width (uniform, independent); off at inference."""

    def __init__(self, factor: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor, self.seed = factor, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training:
            return images
        height, width = images.shape[1], images.shape[2]
        shifts = keras.random.uniform((2, keras.ops.shape(images)[0]), -self.factor, self.factor,
                                      seed=self.seed_generator)
        rows, cols = shift_matrices(shifts[0] * height, height), shift_matrices(shifts[1] * width, width)
        return keras.ops.einsum("bij,bjkc,blk->bilc", rows, images, cols)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"factor": self.factor, "seed": self.seed}


def translation_layer(factor: float) -> keras.layers.Layer:
    """The random translation of the `cnn` space on this process's backend (see the module docstring)."""
    if keras.backend.backend() == "jax":
        return RandomShift(factor)
    return keras.layers.RandomTranslation(factor, factor, fill_mode="constant")
