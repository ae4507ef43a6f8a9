"""The study engine: one live study and its backend.

A study process sets up its backend (`runtime`), builds the search space (`spaces`, with `augment`), lets
keras-tuner's oracles search it under one budget (`strategies`, keras-tuner's internals only through `ktbridge`),
records every trial, refits the winner and scores it once on the test set (`study`, `metrics`). TensorFlow, JAX and
Keras are imported only here and in the tabular package, never by the parent CLI process: so this package names its
public surface lazily (a name's module is imported when the name is first used, PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and readers see; `_PUBLIC` below is what runs
    from .metrics import score_predictions as score_predictions
    from .runtime import DEVICES as DEVICES, check_device as check_device, configure as configure
    from .spaces import build_model as build_model, build_space as build_space
    from .strategies import build_tuner as build_tuner
    from .study import run_study as run_study, run_worker as run_worker
    from .userspace import load_space as load_space, probe as probe

_PUBLIC = {"score_predictions": "metrics", "DEVICES": "runtime", "check_device": "runtime", "configure": "runtime",
           "build_model": "spaces", "build_space": "spaces", "build_tuner": "strategies", "run_study": "study",
           "run_worker": "study", "load_space": "userspace", "probe": "userspace"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)


def __dir__() -> list[str]:
    return __all__
