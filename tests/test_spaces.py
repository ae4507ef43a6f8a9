from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np

from fmnist_bench.spaces import AnnSpace


def test_ann_space_declares_the_four_hyperparameters() -> None:
    hp = kt.HyperParameters()
    AnnSpace().build(hp)
    assert sorted(hp.values) == ["activation", "learning_rate", "n_hidden_layers", "neurons"]


def test_ann_space_builds_and_trains_one_step() -> None:
    hp = kt.HyperParameters()
    hp.values.update({"n_hidden_layers": 2, "neurons": 64, "activation": "elu", "learning_rate": 1e-3})
    keras.utils.set_random_seed(1)
    model = AnnSpace().build(hp)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [64, 64, 10]
    x = np.random.default_rng(0).random((32, 28, 28), dtype=np.float32)
    y = np.arange(32) % 10
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < before
    assert model.predict(x[:4], verbose=0).shape == (4, 10)
