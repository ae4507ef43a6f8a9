"""A run's figures as PNG bytes (the caller writes them atomically): anytime curves, confusion matrices and a replay's
simple regret, and the resolution and cropping every figure of the reports shares (`figure_bytes`).

Drawing is kept apart from the numbers: `summary` builds the summary's rows and markdown from the stored records,
this module only draws them with matplotlib (imported inside each function, so reading a report's numbers loads no
plotting library). The anytime-rank and critical-difference figures stay with their statistics in `ranks`, the
README's answer figure with its points in `answer`.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import numpy as np

from ..records import StudyResult
from ..stats import anytime_curve, band, curve_on_grid
from ..store import StoredRun

__all__ = ["figure_bytes", "render_confusion_png", "render_curves_png", "render_regret_png"]


def figure_bytes(fig: Any, description: str | None = None) -> bytes:
    """The figure as PNG; `description` goes into its metadata (the PNG's Description text chunk)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight",
                metadata={"Description": description} if description else None)
    return buffer.getvalue()


def render_regret_png(run: StoredRun, ref: Any) -> bytes:
    """Mean simple regret vs epochs spent per strategy, with a 95% t-interval band over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..tabular.regret import regret_after

    grid = np.arange(1, int(run.config.budget_epochs) + 1)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, style in zip(run.strategies, itertools.cycle(("-", "--", ":", "-.")), strict=False):
        rows = [regret_after(st.trials, ref, grid) for st in run.studies if st.result.strategy == name]
        mean, low, high = band(np.vstack(rows))
        line, = ax.plot(grid, mean, label=f"{name} (n={len(rows)})", drawstyle="steps-post", linestyle=style)
        ax.fill_between(grid, low, high, step="post", alpha=0.2, color=line.get_color())
    ax.set_xlabel("training epochs spent (simulated: the table's epochs)")
    ax.set_ylabel("simple regret (pp of validation accuracy, log above 0.1)")
    ax.set_title(f"Simple regret ({run.config.space}, replayed, {len(run.seeds)} seeds, mean and 95% t-interval)")
    ax.set_yscale("symlog", linthresh=0.1)  # log above 0.1 pp, where the strategies separate; linear to 0 below
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    data = figure_bytes(fig)
    plt.close(fig)
    return data


def render_confusion_png(result: StudyResult) -> bytes:
    """Counts in each cell, colour = share of the true class (row-normalised), class names on both axes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(result.test.confusion)  # (10, 10)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # (10, 10)
    fig, ax = plt.subplots(figsize=(8.2, 7))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.55 else "black")
    names = result.test.class_names
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{result.strategy}, seed {result.seed}: test accuracy {100 * result.test.accuracy:.2f}%")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    data = figure_bytes(fig)
    plt.close(fig)
    return data


def render_curves_png(run: StoredRun, *, by: str) -> bytes:
    """Best validation accuracy so far vs epochs spent (`by="epochs"`) or training seconds (`by="seconds"`);
    with several seeds, the mean and a 95% t-interval band over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {name: [anytime_curve(st.epochs, st.trials) for st in run.studies if st.result.strategy == name]
              for name in run.strategies}
    end = max(float((c.epochs if by == "epochs" else c.seconds)[-1]) for cs in curves.values() for c in cs if
              c.epochs.size)
    grid = np.arange(1, int(end) + 1) if by == "epochs" else np.linspace(0, end, 300)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    # Distinct dashes and widths: strategies that found the same trials would otherwise hide each other.
    for (name, items), style, width in zip(curves.items(), itertools.cycle(("-", "--", ":", "-.")),
                                             itertools.cycle((3.0, 2.2, 2.0, 1.6)), strict=False):
        matrix = np.vstack([curve_on_grid(c, grid, by=by) for c in items])  # (n_seeds, n_grid)
        mean, low, high = band(matrix)
        line, = ax.plot(grid, mean, label=f"{name} (n={len(items)} seed{'s' if len(items) > 1 else ''})",
                        drawstyle="steps-post", linestyle=style, linewidth=width)
        if len(items) > 1:
            ax.fill_between(grid, low, high, step="post", alpha=0.2, color=line.get_color())
    target = run.config.target_accuracy
    values = [s.best_val_accuracy for s in (st.result for st in run.studies)]
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"validation target {target}")
        values.append(target)
    ax.set_ylim(max(0.0, min(values) - 0.08), min(1.0, max(values) + 0.02))
    ax.set_xlabel("training epochs spent" if by == "epochs" else "search seconds spent (oracle, build, train)")
    ax.set_ylabel("best validation accuracy so far")
    n_seeds = len(run.seeds)
    ax.set_title(f"Anytime performance ({run.config.space}, {n_seeds} seed{'s' if n_seeds > 1 else ''}"
                 + (", mean and 95% t-interval over seeds)" if n_seeds > 1 else ")"))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    data = figure_bytes(fig)
    plt.close(fig)
    return data
