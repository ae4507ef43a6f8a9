"""Markdown tables with the best cell of each column in bold and a legend underneath (via tabulate)."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from tabulate import tabulate

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Column", "markdown_table", "fmt_bound", "fmt_detectable", "fmt_interval", "fmt_seconds"]


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: where its value comes from, how it prints, and which direction is better (if any)."""

    key: str
    header: str
    fmt: Callable[[Any], str] = str
    better: str | None = None  # "max", "min" or None


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def fmt_interval(bounds: Sequence[float] | np.ndarray, *, signed: bool = False, unit: str = "") -> str:
    """An interval of fractions as [low, high] in percent (or percentage points, `signed`); '-' where there is
    none (NaN bounds: one seed)."""
    if math.isnan(bounds[0]):
        return "-"
    return f"[{fmt_bound(100 * bounds[0], signed)}{unit}, {fmt_bound(100 * bounds[1], signed)}{unit}]"


def fmt_detectable(value: float) -> str:
    """A smallest detectable difference in pp; '-' where none can be stated: fewer than two seeds (NaN) or
    differences that do not vary (0: the strategies scored alike on every seed)."""
    return "-" if math.isnan(value) or value == 0 else f"{100 * value:.2f}"


def fmt_bound(value: float, signed: bool) -> str:
    """A number in percent or pp with two decimals; a signed one that is not 0 but would print as 0.00 gets a third,
    so that an interval excluding 0 (or a check keeping a sign) by less than 0.005 pp does not read as touching 0."""
    text = f"{value:{'+.2f' if signed else '.2f'}}"
    if signed and value != 0 and float(text) == 0:
        return f"{value:+.3f}"
    return text


def _best(values: list[Any], better: str) -> Any:
    numeric = [v for v in values if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))]
    if len(numeric) < 2:
        return None
    return max(numeric) if better == "max" else min(numeric)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, legend: str = "") -> str:
    """Rows of raw values -> a GitHub-markdown table; None prints as '-'."""
    best = {c.key: _best([r.get(c.key) for r in rows], c.better) for c in columns if c.better}
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column.key)
            text = "-" if value is None else column.fmt(value)
            if column.better and value is not None and value == best.get(column.key):
                text = f"**{text}**"
            cells.append(text)
        body.append(cells)
    table = tabulate(body, headers=[c.header for c in columns], tablefmt="github", disable_numparse=True)
    marked = [c.header for c in columns if c.better]
    notes = [f"Bold: best of the column ({', '.join(marked)})." if marked else "", legend]
    notes = [n for n in notes if n]
    return table + ("\n\n" + " ".join(notes) if notes else "") + "\n"
