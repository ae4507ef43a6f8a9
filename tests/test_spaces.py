from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np

from fmnist_bench.engine.spaces import AnnSpace


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


def _cnn(values: dict) -> keras.Model:
    from fmnist_bench.engine.spaces import CnnSpace

    hp = kt.HyperParameters()
    hp.values.update(values)
    keras.utils.set_random_seed(1)
    return CnnSpace().build(hp)


CNN = {"flip": True, "translate": 0.1, "filters": 32, "kernel_size": 3, "batch_norm": True, "conv_blocks": 2,
       "dropout": 0.2, "dense_units": 64, "learning_rate": 1e-3}


def test_cnn_space_builds_and_trains_one_step() -> None:
    model = _cnn(CNN)
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 2
    x = np.random.default_rng(0).random((32, 28, 28), dtype=np.float32)
    y = np.arange(32) % 10
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    trained = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)]
    assert all(trained[:2]) and sum(trained) >= len(trained) // 2  # the first conv layer and most others moved
    assert model.predict(x[:4], verbose=0).shape == (4, 10)


def test_cnn_augmentation_is_active_in_training_only() -> None:
    model = _cnn(CNN)
    augment = keras.Sequential([layer for layer in model.layers
                                if isinstance(layer, (keras.layers.RandomFlip, keras.layers.RandomTranslation))])
    assert len(augment.layers) == 2
    x = np.random.default_rng(1).random((8, 28, 28, 1), dtype=np.float32)
    assert np.array_equal(np.asarray(augment(x, training=False)), x)  # inference: untouched
    assert not np.array_equal(np.asarray(augment(x, training=True)), x)  # training: flipped/shifted
    images = x[..., 0]
    assert np.array_equal(model.predict(images, verbose=0), model.predict(images, verbose=0))


def test_cnn_without_augmentation_has_no_augmentation_layers() -> None:
    model = _cnn(CNN | {"flip": False, "translate": 0.0, "batch_norm": False})
    assert not any(isinstance(layer, (keras.layers.RandomFlip, keras.layers.RandomTranslation,
                                      keras.layers.BatchNormalization)) for layer in model.layers)


def test_every_built_in_space_ends_in_logits_with_a_logits_loss() -> None:
    """A softmax output with a loss on probabilities collapses wide nets under Keras 3's JAX backend (its loss clips
    the probabilities); every built-in space ends in a linear layer and a `from_logits=True` loss instead."""
    from fmnist_bench.engine.spaces import SPACES

    for name, space in SPACES.items():
        hp = kt.HyperParameters()
        model = space().build(hp)
        last = model.layers[-1]
        assert isinstance(last, keras.layers.Dense) and last.activation is keras.activations.linear, name
        assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy), name
        assert model.loss.get_config()["from_logits"] is True, name
