"""What a replaying process skips of scikit-learn's bookkeeping so that keras-tuner's Bayesian oracle costs less,
without changing one proposal.

A replayed Bayesian study is almost all keras-tuner's acquisition search: per trial, 50 L-BFGS-B restarts whose
numerical gradients call the Gaussian process's `predict` on one point, about 2,400 times per trial. scikit-learn
1.6+ validates that point on every call (`validate_data`: dataframe detection through narwhals, feature names,
dtype), which was 63% of `predict`'s time and about half of a whole 270-epoch search (profiled 2026-12-06, scikit-learn
1.9.1: 25.3 s per search, 12.9 s of it in `validate_data`). The point keras-tuner passes is always a float64 numpy
array of the fitted width, which validation returns as it is; so a replay passes such arrays straight through and
leaves anything else to scikit-learn. `benchmarks/test_bench_replay.py` measures the saving and asserts that the
proposals are the same; the replay's recorded oracle seconds are that much lower than a live study's.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["ORACLE_SKLEARN_CONFIG", "install_oracle_shortcuts", "oracle_shortcuts"]

# scikit-learn's global switches a replay sets: no finiteness scan of each query, no check of the estimator's
# constructor parameters on each call
ORACLE_SKLEARN_CONFIG = {"assume_finite": True, "skip_parameter_validation": True}


def _passing_plain_queries(validate: Callable[..., Any]) -> Callable[..., Any]:
    """`validate_data` that returns a query it would return unchanged: a 2-D float64 array, of the width the fitted
    estimator saw, for an estimator fitted without feature names."""

    @functools.wraps(validate)
    def checked(estimator: Any, /, X: Any = "no_validation", *args: Any, reset: bool = True, **kwargs: Any) -> Any:
        if (not reset and not args and isinstance(X, np.ndarray) and X.dtype == np.float64 and X.ndim == 2
                and X.shape[0] > 0 and X.shape[1] == getattr(estimator, "n_features_in_", None)
                and not hasattr(estimator, "feature_names_in_") and kwargs.get("dtype") == "numeric"):
            return X
        return validate(estimator, X, *args, reset=reset, **kwargs)

    checked.passes_plain_queries = True  # type: ignore[attr-defined]
    return checked


def install_oracle_shortcuts() -> None:
    """For the rest of this process (a replay worker's set-up); installing twice changes nothing."""
    import sklearn
    from sklearn.gaussian_process import _gpr

    sklearn.set_config(**ORACLE_SKLEARN_CONFIG)
    validate = getattr(_gpr, "validate_data", None)  # scikit-learn < 1.6 validates in a method: left as it is
    if validate is not None and not getattr(validate, "passes_plain_queries", False):
        _gpr.validate_data = _passing_plain_queries(validate)


@contextlib.contextmanager
def oracle_shortcuts() -> Iterator[None]:
    """The same shortcuts for the length of a `with` block (benchmarks compare with and without them)."""
    import sklearn
    from sklearn.gaussian_process import _gpr

    original = getattr(_gpr, "validate_data", None)
    with sklearn.config_context(**ORACLE_SKLEARN_CONFIG):
        if original is None:
            yield
            return
        _gpr.validate_data = _passing_plain_queries(getattr(original, "__wrapped__", original))
        try:
            yield
        finally:
            _gpr.validate_data = original
