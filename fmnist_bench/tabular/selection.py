"""Which configurations a cross-backend check trains: a rule fixed before the check runs, stored beside its curves.

A whole grid on a new backend costs hours on 2 cores; what the question (do two backends' landscapes agree?) needs
is the top of the grid, where a search chooses, every configuration that trains on one backend and fails on the
other, and a few others drawn at random as controls (docs/tabular.md, "Backends"). The rule reads validation scores
only, never test accuracy.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, one_line_errors
from ..store import atomic_write_text
from .table import Table, config_key

__all__ = ["FAILED_BELOW", "backend_check_configs", "read_chosen", "write_chosen"]

FAILED_BELOW = 0.80  # a configuration "fails" on a training run when its trial score there is below this


def _trial_scores(table: Table, seeds: list[int], keys: list[str], epochs: int) -> np.ndarray:
    """Mean over `seeds` of each configuration's best validation accuracy in its first `epochs` epochs."""
    return np.mean([[float(np.nanmax(table.curves[s][k].val_accuracy[:epochs])) for k in keys] for s in seeds],
                   axis=0)


def backend_check_configs(table: Table, *, epochs: int, top: int, controls: int, seed: int) -> dict[str, Any]:
    """The configurations a cross-backend check trains, each with the reason it was chosen.

    `top`: the best configurations by trial score averaged over every whole-grid seed; then every configuration
    that scores below `FAILED_BELOW` on some seed of one backend and on no seed of the other; then `controls` of
    the rest, drawn by a generator fixed by `seed`.
    """
    keys = sorted(table.curves[table.seeds[0]])
    overall = _trial_scores(table, table.seeds, keys, epochs)
    reasons: dict[str, str] = {keys[i]: "top" for i in np.argsort(-overall, kind="stable")[:top]}
    groups: dict[str, list[int]] = {}
    for s in table.seeds:
        groups.setdefault(table.backend(s) or "?", []).append(s)
    if len(groups) == 2:
        (_, first), (_, second) = sorted(groups.items())
        failed_a = np.any([_trial_scores(table, [s], keys, epochs) < FAILED_BELOW for s in first], axis=0)
        failed_b = np.any([_trial_scores(table, [s], keys, epochs) < FAILED_BELOW for s in second], axis=0)
        for i in np.flatnonzero(failed_a != failed_b):
            reasons.setdefault(keys[i], "fails on one backend")
    rest = [k for k in keys if k not in reasons]
    for key in random.Random(f"controls:{seed}").sample(rest, min(controls, len(rest))):
        reasons[key] = "control"
    return {"rule": (f"the {top} best configurations by the mean over whole-grid seeds {table.seeds} of the best "
                     f"validation accuracy in {epochs} epochs; every configuration below {FAILED_BELOW:.0%} on some "
                     f"seed of one backend and on no seed of the other; {controls} others drawn by seed "
                     f"{seed}"),
            "configs": [{"params": json.loads(k), "reason": reasons[k]} for k in keys if k in reasons]}


def write_chosen(path: Path, chosen: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(chosen, indent=1) + "\n")


def read_chosen(path: Path) -> list[dict[str, Any]]:
    """The configurations of a `--configs` file: a JSON list of configurations, or `write_chosen`'s object.

    Raises:
        ConfigError: the file is missing, not JSON, or holds something else.
    """
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read --configs {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--configs {path} is not JSON ({exc})") from None
    entries = data.get("configs") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"--configs {path} must hold a non-empty list of configurations (or {{\"configs\": [...]}})")
    configs = [e.get("params", e) if isinstance(e, dict) else e for e in entries]
    if not all(isinstance(c, dict) for c in configs):
        raise ConfigError(f"--configs {path}: every configuration must be an object of hyperparameter values")
    return sorted(configs, key=config_key)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """`python -m fmnist_bench.tabular.selection TABLE_FOLDER OUTPUT.json`: the committed check's choice (top 60,
    12 controls, 9-epoch trial scores, drawn by seed 1)."""
    import argparse

    from .table import load_table

    parser = argparse.ArgumentParser(prog="python -m fmnist_bench.tabular.selection", description=main.__doc__)
    parser.add_argument("table", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    chosen = backend_check_configs(load_table(args.table), epochs=9, top=60, controls=12, seed=1)
    write_chosen(args.output, chosen)
    print(f"wrote {len(chosen['configs'])} configurations to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
