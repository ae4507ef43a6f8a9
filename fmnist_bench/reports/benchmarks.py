"""pytest-benchmark JSON -> a markdown table with the ratios the targets are stated in.

Absolute times on a shared machine are noise. The targets (harness overhead <= 1.05, training throughput vs plain
Keras >= 0.95) refer to ratios of two sides timed in alternating pairs within one benchmark: the reported value is
the median of the per-pair ratios, with their smallest and largest as the spread.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from ..errors import ResultsError
from ..store import benchmarks_json_path
from ..markdown import Column, markdown_table

SHIPPED = Path("results")  # the repository's benchmark results, as the regenerating command names them
__all__ = ["PAIRED_RATIOS", "benchmark_rows", "ratio_rows", "render_benchmarks"]

# (label, benchmark, numerator side, denominator side, kind, target): the benchmark times both sides in alternating
# pairs and stores each side's seconds per pair in extra_info["paired_seconds"]. "time" ratios want <= target;
# "speed" ratios (denominator time / numerator time would invert them) are stated as plain time / harness time.
PAIRED_RATIOS: list[tuple[str, str, str, str, str, float | None]] = [
    ("harness overhead: harness study time / plain keras-tuner time", "test_study_overhead", "harness", "plain",
     "time", 1.05),
    ("training throughput: harness images/s / plain Keras images/s (same steps_per_execution)",
     "test_epoch_throughput", "plain", "harness", "speed", 0.95),
    ("replayed Bayesian study: time without / with scikit-learn's input checks (made before 2026-12-06)",
     "test_bayesian_oracle_with_and_without_sklearn_input_checks", "without checks", "with checks", "time", None),
    ("replayed Bayesian study: time with the replay's shortcuts / with scikit-learn's switches alone",
     "test_bayesian_oracle_with_and_without_the_replay_shortcuts", "shortcuts", "switches only", "time", None),
    ("replay, 2 processes on 2 cores: time with 1 BLAS thread each / with the libraries' default (all cores)",
     "test_replay_processes_with_bounded_and_default_blas_threads", "bounded", "default", "time", None),
    ("replayed study: Optuna's TPE time / keras-tuner's BayesianOptimization time (ann-grid, 90 epochs)",
     "test_tpe_and_bayesian_replayed_studies", "tpe", "bayesian", "time", None),
    ("replay on a local Dask cluster: time with two workers / with one (2 cores)",
     "test_replay_on_two_dask_workers_against_one", "two workers", "one worker", "time", None),
    ("replayed random search: time with 16 simulated workers / with one (the same trials: the simulation's cost)",
     "test_sixteen_simulated_workers_against_one[random]", "16 workers", "1 worker", "time", 1.25),
    ("replayed ASHA: time with 16 simulated workers / with one (other trials: pruned sooner)",
     "test_sixteen_simulated_workers_against_one[asha]", "16 workers", "1 worker", "time", None),
    ("replayed Hyperband: time with 16 simulated workers / with one (other trials)",
     "test_sixteen_simulated_workers_against_one[hyperband]", "16 workers", "1 worker", "time", None),
]


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read benchmark results {path}: {exc}") from None


def benchmark_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for bench in data.get("benchmarks", []):
        stats, extra = bench["stats"], bench.get("extra_info", {})
        paired = extra.get("paired_seconds")
        images = extra.get("images")
        rows.append({"group": bench.get("group") or "", "name": bench["name"], "rounds": stats["rounds"],
                     "median": stats["median"], "min": stats["min"], "stddev": stats["stddev"],
                     "sides": ", ".join(f"{side} {statistics.median(v):.3f} s" for side, v in paired.items())
                     if paired else None,
                     "throughput": images / stats["median"] if images and not paired else None,
                     "per_study": extra.get("seconds_per_study"), "oracle_share": extra.get("oracle_share")})
    return rows


def ratio_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per paired benchmark: the median of its per-pair ratios, their range, and whether the target is met."""
    benchmarks = {b["name"]: b for b in data.get("benchmarks", [])}
    rows = []
    for label, name, numerator, denominator, kind, target in PAIRED_RATIOS:
        paired = benchmarks.get(name, {}).get("extra_info", {}).get("paired_seconds")
        if not paired:
            continue
        ratios = [a / b for a, b in zip(paired[numerator], paired[denominator], strict=True)]
        value = statistics.median(ratios)
        ok = target is None or (value <= target if kind == "time" else value >= target)
        rows.append({"ratio": label, "value": value, "spread": f"[{min(ratios):.3f}, {max(ratios):.3f}]",
                     "pairs": len(ratios), "target": "-" if target is None else
                     f"{'<=' if kind == 'time' else '>='} {target}",
                     "met": "-" if target is None else "yes" if ok else "NO"})
    return rows


def render_benchmarks(path: Path) -> str:
    data = _load(path)
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor", "")
    head = (f"# Benchmarks\n\nFrom `{path.name}` ({data.get('datetime', '')[:19]}), {cpu}, "
            f"Python {machine.get('python_version', '')}. Regenerate with `tox -e bench` or\n"
            f"`pytest benchmarks --benchmark-only --benchmark-json={benchmarks_json_path(SHIPPED)} && "
            f"python -m fmnist_bench benchmarks {benchmarks_json_path(SHIPPED)}`.\n")
    ratios = markdown_table(ratio_rows(data), [Column("ratio", "ratio (alternating pairs)"),
                                               Column("value", "median of per-pair ratios", lambda v: f"{v:.3f}"),
                                               Column("spread", "min, max of per-pair ratios"),
                                               Column("pairs", "pairs"), Column("target", "target"),
                                               Column("met", "met")])
    rows = benchmark_rows(data)
    columns = [
        Column("group", "group"), Column("name", "benchmark"), Column("rounds", "rounds"),
        Column("median", "median (s)", lambda v: f"{v:.3f}"), Column("min", "min (s)", lambda v: f"{v:.3f}"),
        Column("stddev", "stddev (s)", lambda v: f"{v:.3f}"),
        Column("sides", "paired sides: median s"),
        Column("throughput", "images/s (median)", lambda v: f"{v:,.0f}"),
        Column("per_study", "replay s per study", lambda v: f"{v:.2f}"),
        Column("oracle_share", "oracle's share of it", lambda v: f"{v:.0%}")]
    optional = {"throughput", "per_study", "oracle_share"}  # shown only where some benchmark measured them
    table = markdown_table(rows, [c for c in columns if c.key not in optional
                                  or any(r[c.key] is not None for r in rows)])
    return "\n".join([head, "## Ratios\n", ratios, "## All benchmarks\n", table])
