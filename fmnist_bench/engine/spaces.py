"""Search spaces as keras-tuner HyperModels, declared once and shared by every strategy.

`ann` is the original notebook project's space: hidden layers, neurons per layer, activation, learning rate.
Ranges are chosen so they contain models that reach its 88.2% (2 x 1024 relu at lr 3e-4 reached 88.6%; with at
most 512 neurons, revision 1, the best models found plateaued at 88.0-88.2%) and models that clearly do not
(1 x 32 tanh at lr 1e-4), so the strategies have something to find. Changing a range means bumping
the space's revision in `fmnist_bench.catalog`.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import keras_tuner as kt

from .. import catalog
from ..engine.augment import translation_layer
from ..grids import ANN_GRID

__all__ = ["SPACES", "STEPS_PER_EXECUTION", "AnnGridSpace", "AnnSpace", "CnnSpace", "build_model", "build_space"]

N_CLASSES = 10
IMAGE_SHAPE = (28, 28)
# Training steps per call into the compiled graph. On 2 CPU cores it cut the reference MLP's epoch time by 10-12%
# (Python overhead per step) and gave bit-identical weights and metrics to 1 (measured, docs/performance.md).
STEPS_PER_EXECUTION = 16


class AnnSpace(kt.HyperModel):
    """Dense network on flattened pixels.

    | hyperparameter  | range                          |
    |-----------------|--------------------------------|
    | n_hidden_layers | 1 - 3                          |
    | neurons         | 32 - 1024, step 32 (all layers)|
    | activation      | relu, tanh, elu                |
    | learning_rate   | 1e-4 - 1e-2, log-uniform (Adam)|
    """

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        return _dense_net(hp.Int("n_hidden_layers", 1, 3), hp.Int("neurons", 32, 1024, step=32),
                          hp.Choice("activation", ["relu", "tanh", "elu"]),
                          hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"))


def _dense_net(n_hidden: int, neurons: int, activation: str, learning_rate: float) -> keras.Model:
    layers: list[keras.layers.Layer] = [keras.Input(shape=IMAGE_SHAPE), keras.layers.Flatten()]
    layers += [keras.layers.Dense(neurons, activation=activation) for _ in range(n_hidden)]
    layers.append(keras.layers.Dense(N_CLASSES))  # logits: see `compile_classifier`
    return compile_classifier(keras.Sequential(layers), learning_rate)


def compile_classifier(model: keras.Model, learning_rate: float) -> keras.Model:
    """Adam on the cross-entropy of the model's logits.

    The model ends in a linear layer and the loss applies the softmax itself (`from_logits=True`). With a softmax
    layer and a loss on its probabilities, Keras 3's JAX backend clips the probabilities to [1e-7, 1 - 1e-7] before
    the log, whose gradient vanishes for confidently wrong predictions: wide nets at learning rate 0.01 collapsed to
    10-20% accuracy under JAX and never under TensorFlow, whose backend recovers the logits from the softmax
    (docs/tabular.md, "Two backends, one loss"). On TensorFlow both forms train bit-identically. Predicted classes
    are the logits' argmax, as they were the probabilities'.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  steps_per_execution=STEPS_PER_EXECUTION)
    return model


class AnnGridSpace(kt.HyperModel):
    """The `ann` space's four hyperparameters on the grid `grids.ANN_GRID`, each a `Choice`, declared in the order
    of their names: the oracles draw random values in declaration order, and the replay declares the same space in
    the same order (`replay.grid_hyperparameters`), so a seed proposes the same configurations live and replayed."""

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        values = {name: hp.Choice(name, list(ANN_GRID[name])) for name in sorted(ANN_GRID)}
        return _dense_net(values["n_hidden_layers"], values["neurons"], values["activation"],
                          values["learning_rate"])


class CnnSpace(kt.HyperModel):
    """Convolutional network with data augmentation as hyperparameters (the original project's next steps).

    | hyperparameter | range                                              |
    |----------------|----------------------------------------------------|
    | conv_blocks    | 1 - 3 (conv [+ batch norm] + relu + 2x2 max pool)   |
    | filters        | 16 - 64, step 16 (doubled in each further block)   |
    | kernel_size    | 3 or 5                                             |
    | batch_norm     | yes / no                                           |
    | dropout        | 0.0 - 0.5, step 0.1 (before the dense layer)       |
    | dense_units    | 64 - 256, step 64                                  |
    | learning_rate  | 1e-4 - 1e-2, log-uniform (Adam)                    |
    | flip           | random horizontal flip, yes / no                   |
    | translate      | random shift up to 0 - 0.1 of the image, step 0.05 |

    Augmentation is done by Keras layers inside the model, so it runs on CPU or GPU alike and is inactive at
    inference (`training=False`: validation, test and `predict`). Translation is Keras's RandomTranslation, or
    under JAX the same transformation as two matrix products (`augment.RandomShift`: JAX's resampling is >100x
    slower on a GPU).
    """

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        layers: list[keras.layers.Layer] = [keras.Input(shape=IMAGE_SHAPE), keras.layers.Reshape((*IMAGE_SHAPE, 1))]
        if hp.Boolean("flip"):
            layers.append(keras.layers.RandomFlip("horizontal"))
        translate = hp.Float("translate", 0.0, 0.1, step=0.05)
        if translate > 0:
            layers.append(translation_layer(translate))
        # Sized for CPU: the second block dominates the cost, and at 64 base filters (3x3) an epoch over 54k
        # images already takes ~48 s on 2 cores (measured); 128 would take minutes.
        filters = hp.Int("filters", 16, 64, step=16)
        kernel = hp.Choice("kernel_size", [3, 5])
        batch_norm = hp.Boolean("batch_norm")
        for block in range(hp.Int("conv_blocks", 1, 3)):
            layers.append(keras.layers.Conv2D(filters * 2**block, kernel, padding="same", use_bias=not batch_norm))
            if batch_norm:
                layers.append(keras.layers.BatchNormalization())
            layers += [keras.layers.Activation("relu"), keras.layers.MaxPooling2D(2)]
        layers += [keras.layers.Flatten(), keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1)),
                   keras.layers.Dense(hp.Int("dense_units", 64, 256, step=64), activation="relu"),
                   keras.layers.Dense(N_CLASSES)]
        return compile_classifier(keras.Sequential(layers), hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"))


# Every built-in space of the catalog, by the class it names (all of them defined above).
SPACES: dict[str, Callable[[], kt.HyperModel]] = {
    name: catalog.resolve(entry.factory) for name, entry in catalog.SPACES.items()}


def build_space(name: str, fingerprint: str | None = None) -> kt.HyperModel:
    """A built-in space by name, or a user's (`FILE.py:NAME`, checked against the run's `fingerprint`)."""
    if name in SPACES:
        return SPACES[name]()
    from ..engine.userspace import load_space

    return load_space(name, fingerprint)


def build_model(space: str, params: dict[str, Any], fingerprint: str | None = None) -> keras.Model:
    """The space's model for one configuration (a final fit, a table entry): every `hp.X(name, ...)` answers with
    the chosen value."""
    hp = kt.HyperParameters()
    hp.values.update(params)
    return build_space(space, fingerprint).build(hp)
