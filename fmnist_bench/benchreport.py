"""pytest-benchmark JSON -> a markdown table with the ratios the targets are stated in.

Absolute times on a shared machine are noise; ratios of two benchmarks measured in the same session are what the
targets (harness overhead <= 1.05, training throughput vs plain `model.fit` >= 0.95) refer to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ResultsError
from .tables import Column, markdown_table

__all__ = ["PAIRED_RATIOS", "RATIOS", "benchmark_rows", "ratio_rows", "render_benchmarks"]

# (label, numerator benchmark, denominator benchmark, kind): "time" ratios want <= target, "speed" ratios >= target
RATIOS: list[tuple[str, str, str, str, float]] = [
    ("training throughput: harness images/s / plain model.fit images/s", "test_epoch_plain_keras",
     "test_epoch_harness", "speed", 0.95),
]
# (label, benchmark, kind, target): a benchmark that times both sides itself, in alternating pairs, and stores
# their ratio of medians in its extra_info
PAIRED_RATIOS: list[tuple[str, str, str, float]] = [
    ("harness overhead: harness study time / plain keras-tuner time (alternating pairs)", "test_study_overhead",
     "time", 1.05),
]


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read benchmark results {path}: {exc}") from None


def benchmark_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for bench in data.get("benchmarks", []):
        stats = bench["stats"]
        images = bench.get("extra_info", {}).get("images")
        rows.append({"group": bench.get("group") or "", "name": bench["name"], "rounds": stats["rounds"],
                     "median": stats["median"], "min": stats["min"], "stddev": stats["stddev"],
                     "throughput": images / stats["median"] if images else None})
    return rows


def _ratio_row(label: str, value: float, kind: str, target: float) -> dict[str, Any]:
    ok = value <= target if kind == "time" else value >= target
    return {"ratio": label, "value": value, "target": f"{'<=' if kind == 'time' else '>='} {target}",
            "met": "yes" if ok else "NO"}


def ratio_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Median-based ratios; for 'speed' the ratio is plain time / harness time (= throughput ratio)."""
    benchmarks = {b["name"]: b for b in data.get("benchmarks", [])}
    medians = {name: b["stats"]["median"] for name, b in benchmarks.items()}
    rows = [_ratio_row(label, benchmarks[name]["extra_info"]["ratio_of_medians"], kind, target)
            for label, name, kind, target in PAIRED_RATIOS
            if "ratio_of_medians" in benchmarks.get(name, {}).get("extra_info", {})]
    for label, numerator, denominator, kind, target in RATIOS:
        if numerator in medians and denominator in medians:
            rows.append(_ratio_row(label, medians[numerator] / medians[denominator], kind, target))
    return rows


def render_benchmarks(path: Path) -> str:
    data = _load(path)
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor", "")
    head = (f"# Benchmarks\n\nFrom `{path.name}` ({data.get('datetime', '')[:19]}), {cpu}, "
            f"Python {machine.get('python_version', '')}. Regenerate with `tox -e bench` or\n"
            "`pytest benchmarks --benchmark-only --benchmark-json=results/benchmarks/benchmarks.json && "
            "python -m fmnist_bench benchmarks results/benchmarks/benchmarks.json`.\n")
    ratios = markdown_table(ratio_rows(data), [Column("ratio", "ratio (same session, medians)"),
                                               Column("value", "measured", lambda v: f"{v:.3f}"),
                                               Column("target", "target"), Column("met", "met")])
    table = markdown_table(benchmark_rows(data), [
        Column("group", "group"), Column("name", "benchmark"), Column("rounds", "rounds"),
        Column("median", "median (s)", lambda v: f"{v:.3f}"), Column("min", "min (s)", lambda v: f"{v:.3f}"),
        Column("stddev", "stddev (s)", lambda v: f"{v:.3f}"),
        Column("throughput", "images/s (median)", lambda v: f"{v:,.0f}")])
    return "\n".join([head, "## Ratios\n", ratios, "## All benchmarks\n", table])
