"""`table validate` on a synthetic table with known answers: every pair of whole-grid seeds, agreement at the top
of the grid, intervals of absolute differences that stay at or above 0, and the backend effect."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fmnist_bench.grids import grid_configs
from fmnist_bench.store import TablePaths, atomic_write_json
from fmnist_bench.tabular.table import Curve, TableSpec, load_table, write_curves, write_spec
from fmnist_bench.tabular.validate import backend_effect, compare_seeds, render_validation

GRID = {"n_hidden_layers": [1, 2], "neurons": [32, 64, 128], "activation": ["relu", "tanh"],
        "learning_rate": [0.001, 0.01]}
EPOCHS = 3
CONFIGS = grid_configs(GRID)
LEVELS = 0.80 + 0.003 * np.arange(len(CONFIGS))  # config i scores 80 + 0.3 i pp on seed 1
TOP10 = np.argsort(-LEVELS)[:10]


def _curve(params: dict, seed: int, level: float) -> Curve:
    val = np.full(EPOCHS, level)
    return Curve(params=params, seed=seed, loss=np.full(EPOCHS, 0.4), accuracy=val, val_loss=1 - val,
                 val_accuracy=val, test_accuracy=val, seconds=np.full(EPOCHS, 0.5),
                 confusion=np.tile(np.eye(10, dtype=int) * 1000, (EPOCHS, 1, 1)), setup_seconds=0.1)


def _table(folder: Path) -> Path:
    """Seed 2 (jax) is seed 1 (jax) with its ten best configurations in reverse order; seed 3 (tensorflow) is seed 1
    plus 1 pp everywhere."""
    spec = TableSpec(space="ann-grid", space_revision=1, grid=GRID, split_seed=1, val_size=6000, batch_size=256,
                     epochs=EPOCHS)
    folder.mkdir(parents=True)
    write_spec(folder, spec)
    reversed_top = LEVELS.copy()
    reversed_top[TOP10] = LEVELS[TOP10[::-1]]
    for seed, levels, backend in ((1, LEVELS, "jax"), (2, reversed_top, "jax"), (3, LEVELS + 0.01, "tensorflow")):
        curves = [_curve(c, seed, v) for c, v in zip(CONFIGS, levels, strict=True)]
        write_curves(TablePaths(folder).curves(seed), curves)
        atomic_write_json(TablePaths(folder).build(seed), "table-build",
                          {"seed": seed, "configs": len(CONFIGS), "devices": [f"{backend} device"],
                           "env": {"keras_backend": backend, backend: "1.0"}})
    return folder


def test_the_top_of_the_grid_is_compared_apart_from_the_whole(tmp_path: Path) -> None:
    table = load_table(_table(tmp_path / "ann-grid"))
    row = compare_seeds(table, 1, 2, epochs=EPOCHS)
    assert row["top10"][0] == 10 and abs(row["top10"][1] + 1) < 1e-9  # the same ten, in reverse order
    assert row["spearman"] > 0.6  # the other 14 configurations agree: the whole grid hides it
    assert "top30" not in row  # 24 configurations have no top 30
    assert row["mad_ci"][0] >= 0 and row["mad_ci"][0] <= row["mad"] <= row["mad_ci"][1]


def test_an_interval_of_absolute_differences_never_goes_below_zero() -> None:
    from fmnist_bench.stats import t_interval
    from fmnist_bench.tabular.validate import bootstrap_mean

    # 39 configurations that agree and one that trained on one seed only: the committed table's shape
    diffs = np.array([0.0] * 39 + [25.0])
    assert t_interval(diffs)[0] < 0  # what VALIDATION.md used to print: "1.09 [-0.21, 2.40]"
    low, high = bootstrap_mean(diffs, seed=1)
    assert 0 <= low <= diffs.mean() <= high
    assert bootstrap_mean(diffs, seed=1) == (low, high)  # fixed by its seed: the page regenerates byte for byte


def test_every_pair_of_whole_grid_seeds_and_the_backend_effect(tmp_path: Path) -> None:
    table = load_table(_table(tmp_path / "ann-grid"))
    text = render_validation(table, epochs=EPOCHS)
    for pair in ("| 1 vs 2 ", "| 1 vs 3 ", "| 2 vs 3 "):
        assert pair in text
    effect = backend_effect(table, epochs=EPOCHS)
    assert effect is not None and (effect["first"], effect["second"]) == ("jax", "tensorflow")
    assert effect["seeds_first"] == [1, 2] and effect["seeds_second"] == [3]
    assert abs(effect["mean"] - 1.0) < 1e-9  # + 1 pp everywhere, the permutation averaging out
    assert "## Backend effect" in text and "tensorflow minus jax is +1.00 pp" in text
