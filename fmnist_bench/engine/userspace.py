"""A user's own search space: the `build_model(hp)` function (or `keras_tuner.HyperModel`) a keras-tuner user already
passes to `keras_tuner.RandomSearch`, named as `FILE.py:NAME` or `package.module:NAME`.

Its hyperparameters are found as keras-tuner's tuners find them: by building the model once with an empty
`HyperParameters`, each `hp.X(...)` call registering its hyperparameter. A space whose hyperparameters are all
discrete (`Choice`, `Boolean`, `Fixed`, `Int`, `Float` with a step) is a grid, which `table build` can tabulate.

Keras and keras-tuner are imported inside the functions: the parent process asks `probe` for what it needs (the grid,
the checks) through a short-lived child process (`probe_in_child`) and never loads a backend itself.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

from ..errors import ConfigError
from ..sources import load_object, parse_source

__all__ = ["SOFTMAX_WARNING", "SpaceProbe", "check_model", "load_space", "probe", "probe_in_child"]

SOFTMAX_WARNING = ("ends in a softmax with a loss on probabilities: Keras 3's JAX backend clips those probabilities "
                   "before the log, and wide nets at high learning rates then stop learning (10-20% accuracy) where "
                   "TensorFlow's recovers the logits; end in a linear layer with SparseCategoricalCrossentropy("
                   "from_logits=True) to train alike on every backend (docs/own-space.md)")


_loaded: dict[tuple[str, str | None], object] = {}


def load_space(spec: str, fingerprint: str | None) -> Any:
    """The user's space as a `keras_tuner.HyperModel`, after checking that its source is the one the run was made
    with.

    Raises:
        ConfigError: the file changed since the run started, does not import, or names no function or HyperModel.
    """
    import keras_tuner as kt

    source = parse_source(spec, what="space")
    if fingerprint is not None and source.fingerprint() != fingerprint:
        raise ConfigError(f"space {spec} has changed since this run was made (source fingerprint "
                          f"{source.fingerprint()}, the run's {fingerprint}); an edited space is a new run: run the "
                          "same command without --run-id, or restore the file")
    found = _loaded.get((spec, fingerprint))
    if found is None:  # a study builds a model per trial and per refit: import the user's module once
        found = _loaded[(spec, fingerprint)] = load_object(source, what="space")
    if isinstance(found, type) and issubclass(found, kt.HyperModel):
        return found()
    if isinstance(found, kt.HyperModel):
        return found
    if callable(found):
        return _function_space_class()(found, name=source.label)
    raise ConfigError(f"--space {spec} names a {type(found).__name__}; expected a build_model(hp) function or a "
                      "keras_tuner.HyperModel")


def _function_space_class() -> type:
    import keras_tuner as kt

    class FunctionSpace(kt.HyperModel):
        """A `build_model(hp)` function as a HyperModel: what keras-tuner makes of a callable, with the function's
        name."""

        def __init__(self, build_model: Any, name: str) -> None:
            super().__init__(name=name)
            self._build_model = build_model

        def build(self, hp: kt.HyperParameters) -> Any:
            return self._build_model(hp)

    return FunctionSpace


def check_model(model: Any, *, spec: str, n_classes: int) -> list[str]:
    """Check a model built from the user's space against the dataset; return warnings (one line each).

    Raises:
        ConfigError: not a compiled Keras model, or its output does not have one unit per class.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise ConfigError(f"--space {spec} returned a {type(model).__name__}, not a keras.Model (build_model(hp) must "
                          "return a compiled model)")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ConfigError(f"--space {spec} returned a model that is not compiled; call model.compile(...) in "
                          "build_model(hp), as for keras_tuner.RandomSearch")
    units = model.outputs[0].shape[-1] if model.outputs else None
    if units != n_classes:
        raise ConfigError(f"--space {spec} builds a model with {units} outputs, but the data has {n_classes} "
                          f"classes: end it in Dense({n_classes})")
    warnings: list[str] = []
    last = model.layers[-1] if model.layers else None
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    loss_config = model.loss.get_config() if hasattr(model.loss, "get_config") else {}  # a string: probabilities
    if activation == "softmax" and not loss_config.get("from_logits", False):
        warnings.append(f"space {spec} {SOFTMAX_WARNING}")
    return warnings


@dataclasses.dataclass(frozen=True)
class SpaceProbe:
    """What the parent learns of a user's space by building it once.

    Attributes:
        hyperparameters: keras-tuner's config of the space (`HyperParameters.get_config()`), in declaration order:
            a replay declares exactly this space, so a seed proposes what it proposes live.
        grid: every hyperparameter's values when all are discrete, else None.
        not_grid: why the space is not a grid (the continuous hyperparameters), empty for a grid.
        warnings: one line each, for the user (see `check_model`).
    """

    hyperparameters: dict[str, Any]
    grid: dict[str, list[Any]] | None
    not_grid: str
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def probe(spec: str, fingerprint: str | None, n_classes: int) -> SpaceProbe:
    """Build the space once with its default values, check the model, and read its hyperparameters.

    Raises:
        ConfigError: see `load_space` and `check_model`; or the build itself raised.
    """
    import keras
    import keras_tuner as kt

    space = load_space(spec, fingerprint)
    hp = kt.HyperParameters()
    try:
        model = space.build(hp)
    except Exception as exc:  # the user's build failed: one line with its cause
        raise ConfigError(f"--space {spec}: build_model(hp) raised {type(exc).__name__}: {exc}") from None
    warnings = check_model(model, spec=spec, n_classes=n_classes)
    keras.backend.clear_session()
    continuous = [p.name for p in hp.space if _is_continuous(p)]
    grid = None if continuous else {p.name: _values(p) for p in hp.space}
    not_grid = f"continuous hyperparameters: {', '.join(continuous)} (give them a step, or use Choice)" \
        if continuous else ""
    return SpaceProbe(hp.get_config(), grid, not_grid, warnings)


def _is_continuous(hyperparameter: Any) -> bool:
    import keras_tuner as kt

    return isinstance(hyperparameter, kt.engine.hyperparameters.Float) and hyperparameter.step is None


def _values(hyperparameter: Any) -> list[Any]:
    """Every value a discrete hyperparameter takes, as its proposals carry them (an Int's as ints)."""
    import keras_tuner as kt

    values = list(hyperparameter.values)
    if isinstance(hyperparameter, kt.engine.hyperparameters.Int):
        return [int(v) for v in values]
    if isinstance(hyperparameter, kt.engine.hyperparameters.Boolean):
        return [False, True]
    return values


_PROBE = ("import json, sys\nfrom fmnist_bench.errors import FmnistBenchError\n"
          "from fmnist_bench.engine.userspace import probe\n"
          "try: print(json.dumps(probe(*json.loads(sys.argv[1])).to_dict()))\n"
          "except FmnistBenchError as exc: sys.exit(str(exc))")


def probe_in_child(spec: str, fingerprint: str | None, n_classes: int) -> SpaceProbe:
    """`probe` in a short-lived child process (a few seconds: it imports the backend), so that the caller does not.

    Raises:
        ConfigError: the probe's own one-line error, or the child's last line if it crashed.
    """
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps([spec, fingerprint, n_classes])],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ConfigError(lines[-1] if lines else f"checking --space {spec} failed with exit code {done.returncode}")
    return SpaceProbe(**json.loads(done.stdout.strip().splitlines()[-1]))
