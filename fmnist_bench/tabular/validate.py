"""`table validate`: how far a second training seed moves the table, the noise a single-seed table ignores.

For every seed that shares configurations with the reference seed (a validation sample, or another whole-grid
seed, possibly trained on another machine and backend), compare each configuration's trial score (its best
validation accuracy in a `epochs_per_trial`-epoch trial) between the two: Spearman's rank correlation with a
Fisher-z interval (standard error 1.03/sqrt(n-3), Fieller, Hartley and Pearson 1957), the same at the top of the
grid, and the mean absolute difference in percentage points with a bootstrap interval (a t-interval of a mean of
absolute values went below 0). Every pair of whole-grid seeds is compared, and a backend effect measured when they
were trained on two backends.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TableError
from ..tabular.table import Table, load_table
from ..markdown import Column, markdown_table

__all__ = ["backend_effect", "compare_seeds", "render_validation", "write_validation"]


def _score(curve: Any, epochs: int) -> float:
    return float(np.nanmax(curve.val_accuracy[:epochs]))


def _build_label(table: Table, seed: int) -> str:
    build = table.builds.get(seed, {})
    env = build.get("env", {})
    backend = env.get("keras_backend", "?")
    version = env.get("tensorflow") if backend == "tensorflow" else env.get(backend)
    devices = "; ".join(build.get("devices") or ["?"])
    return f"{devices}, {backend} {version}"


BOOTSTRAP_RESAMPLES = 2000
TOP = (10, 30)  # the top of the grid, where selection happens


def _scores(table: Table, seed: int, keys: list[str], epochs: int) -> np.ndarray:
    return np.array([_score(table.curves[seed][k], epochs) for k in keys])


def bootstrap_mean(values: np.ndarray, *, seed: int) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean over configurations (resampled with replacement), fixed by
    `seed` so the page regenerates byte for byte; for a mean of absolute values it never goes below 0."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (BOOTSTRAP_RESAMPLES, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def compare_seeds(table: Table, reference: int, other: int, *, epochs: int) -> dict[str, Any]:
    """Agreement of two seeds' trial scores over the configurations both hold: over all of them, and over the
    reference's best `TOP` ones."""
    from scipy.stats import spearmanr

    from ..stats import t_interval

    shared = sorted(set(table.curves[reference]) & set(table.curves[other]))
    if len(shared) < 4:
        raise TableError(f"seeds {reference} and {other} share {len(shared)} configurations; at least 4 are needed")
    a, b = _scores(table, reference, shared, epochs), _scores(table, other, shared, epochs)
    rho = float(spearmanr(a, b).statistic)
    half = 1.96 * 1.03 / math.sqrt(len(shared) - 3)
    z = math.atanh(max(min(rho, 0.999999), -0.999999))
    diffs = 100 * np.abs(a - b)
    best_a, best_b = shared[int(np.argmax(a))], shared[int(np.argmax(b))]
    row = {"reference": reference, "other": other, "configs": len(shared),
           "builds": f"{_build_label(table, reference)} / {_build_label(table, other)}",
           "spearman": rho, "spearman_ci": (math.tanh(z - half), math.tanh(z + half)),
           "mad": float(diffs.mean()), "mad_ci": bootstrap_mean(diffs, seed=reference * 1000 + other),
           "median_diff": float(np.median(diffs)), "max_diff": float(diffs.max()),
           "mean_diff": float(100 * np.mean(b - a)),
           "mean_diff_ci": tuple(100 * v for v in t_interval(b - a)),
           "same_best": best_a == best_b, "best_reference": best_a, "best_other": best_b}
    for k in TOP:
        if len(shared) >= 2 * k:  # a sample of 40 has no meaningful top 30
            top_a, top_b = set(np.argsort(-a)[:k]), set(np.argsort(-b)[:k])
            index = sorted(top_a)
            row[f"top{k}"] = (len(top_a & top_b), float(spearmanr(a[index], b[index]).statistic))
    return row


def backend_effect(table: Table, *, epochs: int) -> dict[str, Any] | None:
    """When the whole-grid seeds were trained on two backends: per configuration, the mean score of one backend's
    seeds minus the other's (paired by configuration), and the typical gap between two seeds of one backend
    against two seeds of different ones. None when they share one backend."""
    from ..stats import t_interval

    groups: dict[str, list[int]] = {}
    for seed in table.seeds:
        groups.setdefault(table.backend(seed) or "?", []).append(seed)
    if len(groups) != 2:
        return None
    (first, seeds_a), (second, seeds_b) = sorted(groups.items())
    keys = sorted(table.curves[table.seeds[0]])
    mean_a = np.mean([_scores(table, s, keys, epochs) for s in seeds_a], axis=0)
    mean_b = np.mean([_scores(table, s, keys, epochs) for s in seeds_b], axis=0)
    diff = 100 * (mean_b - mean_a)
    pairs = [(s, t) for i, s in enumerate(table.seeds) for t in table.seeds[i + 1:]]

    def typical_gap(same: bool) -> float | None:
        gaps = [float(np.median(100 * np.abs(_scores(table, s, keys, epochs) - _scores(table, t, keys, epochs))))
                for s, t in pairs if (table.backend(s) == table.backend(t)) == same]
        return float(np.mean(gaps)) if gaps else None

    return {"first": first, "second": second, "seeds_first": seeds_a, "seeds_second": seeds_b, "configs": len(keys),
            "mean": float(diff.mean()), "ci": tuple(100 * v for v in t_interval(diff / 100)),
            "median": float(np.median(diff)), "within": typical_gap(True), "across": typical_gap(False)}


def render_validation(table: Table, *, epochs: int) -> str:
    whole = table.seeds
    samples = [s for s in sorted(table.curves) if s not in whole]
    pairs = [(s, t) for i, s in enumerate(whole) for t in whole[i + 1:]] + [(whole[0], s) for s in samples]
    rows = [compare_seeds(table, s, t, epochs=epochs) for s, t in pairs]
    for row in rows:
        row["pair"] = f"{row['reference']} vs {row['other']}"
        row["spearman_text"] = f"{row['spearman']:.3f} [{row['spearman_ci'][0]:.3f}, {row['spearman_ci'][1]:.3f}]"
        row["mad_text"] = f"{row['mad']:.2f} [{row['mad_ci'][0]:.2f}, {row['mad_ci'][1]:.2f}]"
        low, high = row["mean_diff_ci"]
        row["mean_diff_text"] = f"{row['mean_diff']:+.2f} [{low:+.2f}, {high:+.2f}]"
        for k in TOP:
            row[f"top{k}_text"] = (f"{row[f'top{k}'][0]} of {k}, {row[f'top{k}'][1]:+.2f}" if f"top{k}" in row
                                   else "-")
    columns = [Column("pair", "seeds"), Column("builds", "trained on"), Column("configs", "configurations"),
               Column("spearman_text", "Spearman rho [95% Fisher-z]"),
               Column("top10_text", "top 10: shared, Spearman"), Column("top30_text", "top 30: shared, Spearman"),
               Column("mad_text", "mean abs diff (pp) [95% bootstrap]"),
               Column("median_diff", "median abs diff (pp)", lambda v: f"{v:.2f}"),
               Column("max_diff", "max abs diff (pp)", lambda v: f"{v:.2f}"),
               Column("mean_diff_text", "mean diff, second - first (pp) [95% t]"),
               Column("same_best", "same best configuration", lambda v: "yes" if v else "no")]
    text = (f"# Validation of the `{table.spec.space}` table\n\n"
            f"Whole-grid seeds {', '.join(map(str, whole))}; every pair of them, and each validation sample against "
            f"seed {whole[0]}. Score compared: a configuration's best validation accuracy in its first {epochs} "
            f"epochs (a standard trial's score). Generated by `python -m fmnist_bench table validate --space "
            f"{table.spec.space}`.\n\n"
            + markdown_table(rows, columns, legend=(
                "Spearman rho: rank correlation of the two seeds' scores over the configurations both hold, with a "
                "Fisher-z interval (standard error 1.03/sqrt(n-3)); over the whole grid it is carried by the many "
                "poor and stalled configurations. Top 10 and top 30, where selection happens: how many of the first "
                "seed's best k configurations are among the second's best k, and the rank correlation of the two "
                "seeds' scores over the first seed's best k. Mean abs diff: mean over the shared configurations of "
                "|second - first| in percentage points, with a 95% percentile bootstrap interval over "
                f"configurations ({BOOTSTRAP_RESAMPLES} resamples; it cannot go below 0); skewed by the few "
                "unstable configurations that train on one seed and not on the other, so the median says what is "
                "typical. Mean diff: signed, with a Student-t interval. A seed trained on another machine or "
                "backend adds that difference to the seed's own.")) + "\n")
    effect = backend_effect(table, epochs=epochs)
    if effect is not None:
        text += (f"\n## Backend effect\n\nThe whole-grid seeds were trained on two backends: {effect['first']} "
                 f"(seeds {', '.join(map(str, effect['seeds_first']))}) and {effect['second']} (seeds "
                 f"{', '.join(map(str, effect['seeds_second']))}). Paired by configuration over all "
                 f"{effect['configs']}: {effect['second']} minus {effect['first']} is {effect['mean']:+.2f} pp on "
                 f"average (95% t-interval [{effect['ci'][0]:+.2f}, {effect['ci'][1]:+.2f}]), median "
                 f"{effect['median']:+.2f} pp. The typical (median) gap between two seeds is "
                 + (f"{effect['within']:.2f} pp on one backend and " if effect["within"] is not None else "")
                 + f"{effect['across']:.2f} pp across backends.\n")
    return text


def write_validation(tables_dir: Path, space: str, *, epochs: int, data: str | None = None) -> Path:
    """Compare the seeds of the table of `space` (on a user's `data`) and write its VALIDATION.md."""
    from ..sources import space_label
    from ..store import TablePaths, atomic_write_text

    folder = tables_dir / space_label(space, data)
    table = load_table(folder, space=space)
    path = TablePaths(folder).validation
    atomic_write_text(path, render_validation(table, epochs=epochs))
    return path
