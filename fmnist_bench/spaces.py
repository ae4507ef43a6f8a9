"""Search spaces as keras-tuner HyperModels, declared once and shared by every strategy.

`ann` is the original notebook project's space: hidden layers, neurons per layer, activation, learning rate.
Ranges are chosen so they contain models that reach its 88.2% (2 x 512 relu at lr ~1e-3 does) and models that
clearly do not (1 x 32 tanh at lr 1e-4), so the strategies have something to find.
"""

from __future__ import annotations

from typing import Callable

import keras
import keras_tuner as kt

__all__ = ["SPACES", "AnnSpace", "build_space"]

N_CLASSES = 10
IMAGE_SHAPE = (28, 28)


class AnnSpace(kt.HyperModel):
    """Dense network on flattened pixels.

    | hyperparameter  | range                          |
    |-----------------|--------------------------------|
    | n_hidden_layers | 1 - 3                          |
    | neurons         | 32 - 512, step 32 (all layers) |
    | activation      | relu, tanh, elu                |
    | learning_rate   | 1e-4 - 1e-2, log-uniform (Adam)|
    """

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        n_hidden = hp.Int("n_hidden_layers", 1, 3)
        neurons = hp.Int("neurons", 32, 512, step=32)
        activation = hp.Choice("activation", ["relu", "tanh", "elu"])
        learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        layers: list[keras.layers.Layer] = [keras.Input(shape=IMAGE_SHAPE), keras.layers.Flatten()]
        layers += [keras.layers.Dense(neurons, activation=activation) for _ in range(n_hidden)]
        layers.append(keras.layers.Dense(N_CLASSES, activation="softmax"))
        model = keras.Sequential(layers)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


SPACES: dict[str, Callable[[], kt.HyperModel]] = {"ann": AnnSpace}


def build_space(name: str) -> kt.HyperModel:
    return SPACES[name]()
