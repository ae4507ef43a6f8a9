"""fmnist-bench: which keras-tuner strategy should you trust on Fashion-MNIST? Measured, not guessed.

Importing the package is cheap: TensorFlow and keras-tuner load only inside study processes.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # Keras 3 must never pick another backend here

from .api import Comparison, build_table, compare, load  # noqa: E402
from .config import PRESETS, RunConfig, make_config  # noqa: E402
from .errors import ConfigError, DataError, FmnistBenchError, ResultsError, StudyFailed  # noqa: E402

__all__ = ["Comparison", "PRESETS", "RunConfig", "build_table", "compare", "load", "make_config", "ConfigError",
           "DataError", "FmnistBenchError", "ResultsError", "StudyFailed", "__version__"]
__version__ = "0.1.0"
