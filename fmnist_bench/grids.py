"""The grid spaces' values, apart from the Keras models that use them: the CLI, the config checks, the table and the
replay read them without importing a backend.

`ann-grid` is the `ann` space on a grid, so that every configuration an oracle can propose is in the tabular
benchmark (`fmnist_bench.tabular.table`): 3 x 6 x 3 x 6 = 324 configurations. Widths double from 32 to 1024 and the
learning rates are 10^(-4 + 0.4 k), rounded to 3 significant digits. The 3 x 1024 corner costs ~17x a 1 x 32 net
per epoch on CPU; 15 epochs of the whole grid take about 2 h on 2 CPU cores and 5 min on one H100 (README,
"Tabular benchmark"). Changing a value means bumping the revision of `ann-grid` in `fmnist_bench.catalog`, which
makes every stored table refuse to replay it.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping

__all__ = ["ANN_GRID", "grid_configs"]

ANN_GRID: dict[str, tuple[Any, ...]] = {
    "n_hidden_layers": (1, 2, 3),
    "neurons": (32, 64, 128, 256, 512, 1024),
    "activation": ("relu", "tanh", "elu"),
    "learning_rate": (0.0001, 0.000251, 0.000631, 0.00158, 0.00398, 0.01),
}


def grid_configs(grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every configuration of a grid, in a fixed order (the product of its values, first name slowest)."""
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
