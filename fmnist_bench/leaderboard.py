"""`results/LEADERBOARD.md`: every stored run, one row per (run, strategy), best first.

Rebuilt from the stored JSON alone and byte-identical for the same inputs (no generation timestamp, stable sort).
Runs it cannot read (unknown schema, damaged files, no complete study) are listed under the table, not dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .envinfo import software_stack
from .errors import ResultsError
from .stats import bootstrap_ci
from .store import DEFAULT_RESULTS, StoredRun, atomic_write_text, ensure_writable_dir, list_run_dirs, load_run
from .tables import Column, fmt_seconds, markdown_table

__all__ = ["REFERENCES", "leaderboard_rows", "render_leaderboard", "write_leaderboard"]

# Fixed reference points: the original notebook project, and Zalando's published MLP benchmark.
REFERENCES: list[dict[str, Any]] = [
    {"run": "reference", "space": "ann", "strategy": "Zalando benchmark: MLP 256-128-100", "test": 0.8833},
    {"run": "reference", "space": "ann", "strategy": "original project: RandomSearch, 15-epoch refit", "test": 0.882},
]


def leaderboard_rows(run: StoredRun) -> list[dict[str, Any]]:
    """One row per strategy of a run; accuracies and times are means over its complete seeds."""
    rows = []
    for name in run.strategies:
        results = [st.result for st in run.studies if st.result.strategy == name]
        env = run.env
        rows.append({
            "run": run.root.name, "link": f"[summary](runs/{run.root.name}/summary.md)",
            "space": run.space_label, "strategy": name, "seeds": len(results),
            "budget": run.config["budget_epochs"], "workers": run.config.get("workers", 1),
            "test": float(np.mean([r.test["accuracy"] for r in results])),
            "ci": _ci([r.test["accuracy"] for r in results]),
            "macro_f1": float(np.mean([r.test["macro_f1"] for r in results])),
            "wall_s": float(np.mean([r.search_seconds + r.final_fit_seconds for r in results])),
            "versions": software_stack(env),
            "device": "; ".join(sorted({r.device for r in results})),
            "date": str(env.get("started_at", ""))[:10] or None})
    return rows


def _ci(values: list[float]) -> str | None:
    if len(values) < 2:
        return None
    low, high = bootstrap_ci(values)
    return f"[{100 * low:.2f}, {100 * high:.2f}]"


COLUMNS = [
    Column("strategy", "strategy"), Column("space", "space"), Column("test", "test acc", lambda v: f"{100 * v:.2f}%"),
    Column("ci", "95% CI (seeds)"),
    Column("macro_f1", "macro F1", lambda v: f"{v:.4f}"), Column("seeds", "seeds"),
    Column("budget", "budget (epochs)"), Column("workers", "workers"),
    Column("wall_s", "wall time / study", fmt_seconds),
    Column("versions", "backend / Keras / keras-tuner"), Column("device", "device"), Column("date", "date"),
    Column("run", "run"), Column("link", "report"),
]


def render_leaderboard(rows: list[dict[str, Any]], skipped: list[str],
                       results_dir: Path = DEFAULT_RESULTS) -> str:
    """The leaderboard of the runs under `results_dir`, which its text names (with the command that rebuilds it)."""
    ordered = sorted(rows + REFERENCES, key=lambda r: (-r["test"], r["run"], r["strategy"]))
    rebuild = "python -m fmnist_bench leaderboard" + (
        "" if results_dir == DEFAULT_RESULTS else f" --results-dir {results_dir}")
    text = ["# Leaderboard\n",
            f"Every stored run under `{results_dir / 'runs'}`, one row per (run, strategy), best test accuracy first. "
            "With several seeds, accuracy, F1 and wall time are means over seeds. Rows from `reference` are "
            "published numbers, not runs of this harness.\n",
            markdown_table(ordered, COLUMNS)]
    if skipped:
        text += ["\n## Runs not included\n", "\n".join(f"- {line}" for line in skipped), ""]
    text.append(f"\nRebuild with `{rebuild}`.\n")
    return "\n".join(text)


def write_leaderboard(results_dir: Path) -> Path:
    """Raises ResultsError when there is no results folder or no run in it."""
    if not results_dir.is_dir():
        raise ResultsError(f"no results folder {results_dir}; start a run with `python -m fmnist_bench run`")
    run_dirs = list_run_dirs(results_dir)
    if not run_dirs:
        raise ResultsError(f"no runs under {results_dir / 'runs'}; start one with `python -m fmnist_bench run`")
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for run_dir in run_dirs:
        try:
            rows += leaderboard_rows(load_run(run_dir))
        except ResultsError as exc:
            skipped.append(f"`{run_dir.name}`: {exc}".replace(f"{results_dir}/", ""))  # paths relative to the file
    ensure_writable_dir(results_dir)
    path = results_dir / "LEADERBOARD.md"
    atomic_write_text(path, render_leaderboard(rows, skipped, results_dir))
    return path
