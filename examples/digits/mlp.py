"""A keras-tuner search space for scikit-learn's 8x8 digits, written the way a keras-tuner user writes one.

This is the function you would pass to `keras_tuner.RandomSearch(build_model, ...)`. Every hyperparameter is
discrete (`Int`, `Choice`, and a `Float` with a step), so fmnist-bench can also tabulate the whole grid
(3 x 4 x 2 x 4 x 3 = 288 configurations) and replay strategies on it. The model ends in logits, with a loss that
applies the softmax itself, which trains alike on every Keras backend.
"""

import keras


def build_model(hp):
    model = keras.Sequential([keras.Input(shape=(8, 8)), keras.layers.Flatten()])
    units = hp.Choice("units", [16, 32, 64, 128])
    activation = hp.Choice("activation", ["relu", "tanh"])
    for _ in range(hp.Int("layers", 1, 3)):
        model.add(keras.layers.Dense(units, activation=activation))
    model.add(keras.layers.Dropout(hp.Float("dropout", 0.0, 0.4, step=0.2)))
    model.add(keras.layers.Dense(10))
    model.compile(optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [0.001, 0.003, 0.01, 0.03])),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model
