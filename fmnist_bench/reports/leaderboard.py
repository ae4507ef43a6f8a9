"""`results/LEADERBOARD.md`: one table per benchmark, and the README's "Which strategy should I use?" verdict (its
rules, over the typed rows built here, are `verdict`'s).

A benchmark is what makes results comparable: the search space and its revision, the budget (epochs per study),
the device class and whether trials trained live. Within a benchmark, runs of an identical protocol (the config
without its seeds and strategies, on the same backend) pool their seeds; strategies are ranked by mean test
accuracy with Student-t intervals, the paired difference to random search and the smallest difference the seeds
could detect. Smoke runs (the tox compatibility matrix) and published references get sections of their own.

Rebuilt from the stored JSON alone and byte-identical for the same inputs (no generation timestamp, stable sort).
Runs it cannot read (unknown schema, damaged files, no complete study) are listed under the tables, not dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..environment import software_stack
from ..catalog import BASELINE
from ..config import DEFAULT_STRATEGIES, RunConfig
from ..errors import ResultsError
from ..stats import ALPHA, POWER, paired_tests, t_interval
from ..store import DEFAULT_RESULTS, StoredRun, atomic_write_text, ensure_writable_dir, leaderboard_path, \
    load_run, require_run_dirs, summary_link
from ..markdown import Column, fmt_detectable, fmt_interval, markdown_table
from ..tabular.noise import FINAL_FITS
from .verdict import BenchmarkRow, Checks, live_check, verdict_line

log = logging.getLogger(__name__)

__all__ = ["REFERENCES", "Benchmark", "benchmark_of", "benchmark_rows", "load_runs", "pooled_rows", "pooled_tasks",
           "render_leaderboard", "render_verdict", "seed_conflicts", "verdict_sentence", "write_leaderboard"]

# Fixed reference points: the original notebook project, and Zalando's published MLP benchmark.
REFERENCES: list[dict[str, Any]] = [
    {"what": "Zalando benchmark: MLP 256-128-100", "test": 0.8833},
    {"what": "original notebook project: RandomSearch, 15-epoch refit", "test": 0.882},
]


@dataclasses.dataclass(frozen=True, order=True)
class Benchmark:
    space: str  # with its revision, e.g. "ann r2"
    budget_epochs: int
    budget_seconds: float  # 0 for an epoch budget alone
    device: str  # "cpu" or "gpu"
    mode: str = "live"
    table_seeds: str = ""  # a replay on some of the table's training runs alone ("5, 6, 7"); "": all of them
    workers: int = 1  # trials run in parallel: another question ("with N workers, which strategy?")

    @property
    def title(self) -> str:
        budget = f"{self.budget_epochs} epochs" if not self.budget_seconds else \
            f"{self.budget_seconds:g} s (at most {self.budget_epochs} epochs)"
        if self.mode == "replayed":
            where = f"its table's seeds {self.table_seeds} alone" if self.table_seeds else "its table"
            workers = f", {self.workers} simulated workers" if self.workers > 1 else ""
            return f"`{self.space}`, {budget} per study{workers}, replayed from {where}"
        workers = f", {self.workers} keras-tuner workers" if self.workers > 1 else ""
        return f"`{self.space}`, {budget} per study{workers}, {self.device.upper()}, {self.mode}"


def benchmark_of(run: StoredRun) -> Benchmark:
    budget = (run.space_label, int(run.config.budget_epochs), float(run.config.budget_seconds or 0))
    if run.config.replay:
        return Benchmark(*budget, "table", "replayed", ", ".join(map(str, run.config.table_seeds or ())),
                         run.config.workers)
    devices = {st.result.device.split(":", 1)[0] for st in run.studies}
    return Benchmark(*budget, "gpu" if "gpu" in devices else "cpu", workers=run.config.workers)


def _protocol(run: StoredRun) -> tuple[str, str]:
    """What must be equal for seeds of two runs to be pooled: the config but its seeds and strategies, and the
    backend (the same seed trains differently under TensorFlow and JAX)."""
    config = {k: v for k, v in sorted(run.config.to_dict().items()) if k not in ("seeds", "strategies")}
    return repr(config), str(run.env.get("keras_backend", "tensorflow"))


def seed_conflicts(runs: list[StoredRun]) -> list[str]:
    """Seeds that two runs of one protocol both hold with different test accuracies (another machine, another
    numpy or CPU vector extension: docs/method.md), each named, since `pooled_rows` keeps only the first."""
    kept: dict[tuple[Benchmark, tuple[str, str], str, int], tuple[StoredRun, float]] = {}
    conflicts = []
    for run in sorted(runs, key=lambda r: r.root.name):  # stable: a results folder's runs before --also's
        if _compatibility_smoke(run):  # never pooled: each is its own stack's row
            continue
        for st in run.studies:  # pooled as `benchmark_rows` pools: per benchmark, then per protocol
            key = (benchmark_of(run), _protocol(run), st.result.strategy, st.result.seed)
            score = st.result.mean_test_accuracy
            first = kept.setdefault(key, (run, score))
            if first[0] is not run and first[1] != score:
                conflicts.append(f"{st.result.strategy} seed {st.result.seed} of one protocol differs between "
                                 f"`{first[0].root}` ({100 * first[1]:.2f}%) and `{run.root}` ({100 * score:.2f}%): "
                                 "the leaderboard uses the first")
    return conflicts


def pooled_rows(runs: list[StoredRun], home: Path | None = None) -> list[BenchmarkRow]:
    """Rows of one benchmark: per (protocol, strategy), test accuracy pooled over the protocol's runs' seeds.

    A seed stored by two runs of one protocol counts once (the run first in name order), since it is the same
    experiment repeated. A row's mean, interval, seed count and paired test all use the seeds every strategy of the
    protocol has: a strategy run on more seeds than the others shows how many it has beside them ("10 of 20"), so a
    row never quotes 20-seed means beside a 10-seed test.
    """
    groups: dict[tuple[str, str], list[StoredRun]] = {}
    for run in sorted(runs, key=lambda r: r.root.name):
        groups.setdefault(_protocol(run), []).append(run)
    # newest protocol first; within one, strategies by mean test accuracy
    ordered = sorted(groups.values(), key=lambda m: max(str(r.env.get("started_at", "")) for r in m), reverse=True)
    rows: list[BenchmarkRow] = []
    for position, members in enumerate(ordered):
        scores: dict[str, dict[int, float]] = {}
        by_run: dict[str, dict[int, dict[str, float]]] = {}  # replays: strategy -> seed -> table seed -> test acc
        for run in members:
            for st in run.studies:
                scores.setdefault(st.result.strategy, {}).setdefault(st.result.seed, st.result.mean_test_accuracy)
                by_run.setdefault(st.result.strategy, {}).setdefault(st.result.seed,
                                                                     st.result.held_out_test_accuracy)
        names = sorted(scores)
        common = sorted(set.intersection(*(set(scores[n]) for n in names)))
        matrix = np.array([[scores[n][s] for n in names] for s in common]).reshape(len(common), len(names))
        tests = paired_tests(names, matrix)
        differences = _single_run_differences(names, common, by_run)
        noise_document = next((r.table_noise for r in members if r.table_noise
                               and r.table_noise.get("final_fits") == FINAL_FITS), None)
        noise = _noise_intervals(noise_document) if noise_document else {}
        resamples = noise_document["resamples"] if noise_document else None
        # the robustness checks of a - b; none for live runs, whose seeds are independent training runs
        checks = {(a, b): Checks(differences.get((a, b), {}), noise.get((a, b)), resamples)
                  for a in names for b in names if a != b} if members[0].config.replay else {}

        versus = {t.b if t.a == BASELINE else t.a: t for t in tests if BASELINE in (t.a, t.b)}
        beats: dict[str, list[tuple[str, float, tuple[float, ...], int, Checks | None]]] = {}
        for t in tests:  # significant differences between two strategies other than random search
            if BASELINE not in (t.a, t.b) and t.significant:
                sign = 1.0 if t.mean_diff > 0 else -1.0
                winner, loser = (t.a, t.b) if sign > 0 else (t.b, t.a)
                beats.setdefault(winner, []).append((loser, sign * t.mean_diff, tuple(sorted(sign * v for v in t.ci)),
                                                     len(common), checks.get((winner, loser))))
        for name in names:
            values = [scores[name][s] for s in common]
            test = versus.get(name)
            sign = 1.0 if test is None or test.a == name else -1.0  # the difference as (name - random)
            rows.append({
                "group": position, "strategy": name, "preset": members[0].config.preset,
                "final_fit": _final_fit(members[0].config), "how": _how(members[0].config), "seeds": len(values),
                "seeds_label": str(len(values)) if len(values) == len(scores[name]) else
                f"{len(values)} of {len(scores[name])}",
                "mean": float(np.mean(values)), "ci": t_interval(values),
                # + 0.0: a zero difference seen from the other strategy is -0.0, which would print as "-0.00"
                "vs_random": None if test is None else (sign * test.mean_diff + 0.0,
                                                        tuple(sorted(sign * v + 0.0 for v in test.ci)), len(common)),
                "detectable": None if test is None else test.detectable, "significant": bool(test and test.significant),
                "beats": beats.get(name, []), "checks_vs_random": checks.get((name, BASELINE)),
                "same_as": sorted(other for other in names if other != name
                                  and all(scores[other][s] == scores[name][s] for s in common)),
                "training_runs": _training_runs(members[0]), "table_stack": _table_stack(members[0]),
                "runs": ", ".join(f"[{r.root.name}]({summary_link(r.root, home)})" for r in members),
                "stack": "; ".join(sorted({_stack(r) for r in members}))})
    return sorted(rows, key=lambda r: (r["group"], -r["mean"], r["strategy"]))


def _single_run_differences(names: list[str], common: list[int], by_run: dict[str, dict[int, dict[str, float]]]
                            ) -> dict[tuple[str, str], dict[int, float]]:
    """(a, b) -> {table seed h: mean over the replay seeds of a's minus b's final fit read from h after a search on
    the other seeds alone} (leave one training run out: search and final fit never share a run), for replays that
    kept them; empty otherwise (live runs, and replays stored before, whose per-run final fits followed a search
    that had read the same run)."""
    kept = [by_run[n][s] for n in names for s in common]
    if not common or not all(kept):
        return {}
    table_seeds = sorted(set.intersection(*(set(k) for k in kept)), key=int)
    return {(a, b): {int(t): float(np.mean([by_run[a][s][t] - by_run[b][s][t] for s in common]))
                     for t in table_seeds}
            for a in names for b in names if a != b}


def _stack(run: StoredRun) -> str:
    """What trained a row's numbers: the run's backend, or for a replay the machines that built its table (the
    replay itself only runs keras-tuner's oracles, on this CPU)."""
    table = run.env.get("table")
    if not run.config.replay or not isinstance(table, dict):
        return software_stack(run.env)
    built = sorted({d for b in table.get("builds", {}).values() for d in b.get("devices") or []})
    return (f"table trained on {'; '.join(built) or 'unrecorded devices'}; oracles: keras-tuner "
            f"{run.env.get('keras_tuner')} on CPU")


def _table_stack(run: StoredRun) -> str | None:
    """'JAX/GPU', 'TensorFlow/CPU' or both: what trained the table seeds a replay read (None: live, or a replay
    whose record does not name its tables' backends)."""
    builds = run.env.get("table", {}).get("builds", {}) if run.config.replay else {}
    names = {"jax": "JAX", "tensorflow": "TensorFlow"}
    stacks = {f"{names.get(b['backend'], b['backend'])}/{d.split(':', 1)[0].upper()}"
              for b in builds.values() if b.get("backend") for d in b.get("devices") or []}
    return " + ".join(sorted(stacks)) or None


def _noise_intervals(document: dict[str, Any]) -> dict[tuple[str, str], tuple[float, float]]:
    """(a, b) -> the table-noise interval of a - b from a run's `table_noise.json` (`tabular.noise`)."""
    from ..stats import resample_interval

    def scores(draw: dict[str, Any], name: str) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in draw["scores"][name]], dtype=float)

    names = document["strategies"]
    return {(a, b): resample_interval([scores(d, a) - scores(d, b) for d in document["draws"]])
            for a in names for b in names if a != b}


def _training_runs(run: StoredRun) -> int | None:
    """How many whole-grid training runs per configuration a replayed run read (None for a live run)."""
    table = run.env.get("table")
    return len(table["seeds"]) if run.config.replay and isinstance(table, dict) and "seeds" in table else None


def _final_fit(config: RunConfig) -> str:
    decay = config.final_lr_decay
    return (f"{config.final_epochs} ep, patience {config.patience}"
            + ("" if decay == 1.0 else f", lr x{decay:g} on plateau"))


def _how(config: RunConfig) -> str | None:
    """The protocol settings beyond the budget that change results: trial workers, random streams, refits."""
    parts = [f"{config.workers} workers" if config.workers > 1 else "",
             "independent streams" if config.streams == "independent" else "",
             f"{config.refits} refits" if config.refits > 1 else "",
             ("final fits on the table seeds the choice did not read" if config.refits_on_other_seeds else
              "legacy: final fit on a drawn table seed, the chosen trial's own among them") if config.replay else ""]
    return ", ".join(p for p in parts if p) or None


def _vs_random(value: tuple[float, tuple[float, float], int]) -> str:
    diff, ci, _ = value
    return f"{100 * diff:+.2f}" + ("" if math.isnan(ci[0]) else f" {fmt_interval(ci, signed=True)}")


BENCHMARK_COLUMNS = [
    Column("strategy", "strategy"), Column("preset", "preset"), Column("final_fit", "final fit"),
    Column("how", "workers, streams, refits"), Column("seeds_label", "seeds"),
    Column("mean", "mean test acc", lambda v: f"{100 * v:.2f}%"), Column("ci", "95% CI (t)", fmt_interval),
    Column("vs_random", "vs random (pp) [95% t-CI]", _vs_random),
    Column("detectable", "detectable (pp)", fmt_detectable),
    Column("stack", "backend / Keras / keras-tuner (replays: what trained the table)"), Column("runs", "runs"),
]
SMOKE_COLUMNS = [Column("run", "run"), Column("how", "workers, streams, refits"),
                 Column("stack", "backend / Keras / keras-tuner"),
                 Column("scores", "test acc: " + " / ".join(DEFAULT_STRATEGIES)), Column("date", "date")]


def _compatibility_smoke(run: StoredRun) -> bool:
    """A built-in space's `smoke` run on Fashion-MNIST: the tox matrix's check that a stack runs, no benchmark. A
    user's smoke runs are their benchmarks (small ones), shown as such."""
    return run.config.preset == "smoke" and not run.config.is_user_space and run.config.data is None


def _smoke_row(run: StoredRun, home: Path | None) -> dict[str, Any]:
    by_strategy = {st.result.strategy: st.result.test.accuracy for st in run.studies if st.result.seed == 1}
    return {"run": f"[{run.root.name}]({summary_link(run.root, home)})", "how": _how(run.config),
            "stack": software_stack(run.env),
            "scores": " / ".join(f"{100 * by_strategy[s]:.2f}%" if s in by_strategy else "-"
                                 for s in DEFAULT_STRATEGIES),
            "date": str(run.env.get("started_at", ""))[:10] or None}


def benchmark_rows(runs: list[StoredRun], home: Path | None = None) -> dict[Benchmark, list[BenchmarkRow]]:
    grouped: dict[Benchmark, list[StoredRun]] = {}
    for run in runs:
        if not _compatibility_smoke(run):
            grouped.setdefault(benchmark_of(run), []).append(run)
    return {b: pooled_rows(grouped[b], home) for b in sorted(grouped)}


def render_leaderboard(runs: list[StoredRun], skipped: list[str], results_dir: Path = DEFAULT_RESULTS,
                       also: Sequence[Path] = ()) -> str:
    """The leaderboard of the runs under `results_dir` (and `also`'s), which its text names (with the command that
    rebuilds it)."""
    rebuild = "python -m fmnist_bench leaderboard" + (
        "" if results_dir == DEFAULT_RESULTS else f" --results-dir {results_dir}") + "".join(
        f" --also {folder}" for folder in also)
    folders = " and ".join(f"`{folder / 'runs'}`" for folder in (results_dir, *also))
    text = ["# Leaderboard\n",
            f"Every stored run under {folders}, one table per benchmark (search space, budget, "
            "device class, live or replayed): results from different benchmarks are not comparable. Within a "
            "table, runs of the same protocol (config without seeds and strategies) and backend pool their seeds; "
            "the newest protocol comes first, and within it strategies are ordered by mean test accuracy. The "
            "order is not a verdict unless the interval of the difference excludes 0.\n",
            "Columns: seeds are those every strategy of the protocol has, and the mean, its interval and the "
            "comparison use exactly those ('10 of 20': this strategy has 20 seeds, 10 of them shared). 95% CI is "
            "the Student-t interval of the mean over seeds ('-' with one seed). Vs random: the mean paired "
            "difference to random search, in percentage points, with its "
            f"t-interval. Detectable: the smallest true difference to random that these seeds would detect with "
            f"{POWER:.0%} power at {ALPHA:g} after Holm's correction over the strategy pairs (paired t-test). "
            "Seeds are paired (the strategies share each seed's data split and random streams), so ties on a "
            "seed are common.\n"]
    text += ["## Verdicts\n", render_verdict(runs)]
    for benchmark, rows in benchmark_rows(runs, results_dir).items():
        text += [f"## {benchmark.title}\n", markdown_table(rows, BENCHMARK_COLUMNS)]
    smoke = sorted((r for r in runs if _compatibility_smoke(r)), key=lambda r: r.root.name)
    if smoke:
        text += ["## Compatibility smoke runs\n",
                 "The `smoke` preset (2,000 training images, 6 epochs per study, seed 1) in each environment of "
                 "the tox matrix: it shows that a version runs and what it computes, not how good a strategy is.\n",
                 markdown_table([_smoke_row(r, results_dir) for r in smoke], SMOKE_COLUMNS)]
    if any(r.config.data is None for r in runs):  # the references are Fashion-MNIST's
        text += ["## Published references\n",
                 "Fashion-MNIST test accuracies reported elsewhere, not runs of this harness.\n",
                 markdown_table(REFERENCES, [Column("what", "reference"),
                                             Column("test", "test acc", lambda v: f"{100 * v:.2f}%")])]
    if skipped:
        text += ["## Runs not included\n", "\n".join(f"- {line}" for line in skipped), ""]
    if conflicts := seed_conflicts(runs):
        text += ["## Conflicting seeds\n", "Two runs of one protocol hold the same seed with different results; the "
                 "tables use the run first in name order (the results folder's before `--also`'s).\n",
                 "\n".join(f"- {line}" for line in conflicts), ""]
    text.append(f"Rebuild with `{rebuild}`.\n")
    return "\n".join(text)


def render_verdict(runs: list[StoredRun]) -> str:
    """'Which strategy should I use?': one line per benchmark, only as strong as its seeds allow.

    Only a difference whose Holm-corrected paired test passes is stated as a difference, and for a replay only when
    it also has the same sign with each training run of the table held out (searched on the other runs, final fit
    read from the held-out one; else the line says it depends on
    training noise, and by how much); otherwise the line gives the largest difference the seeds could have missed.
    A comparison is stated once when two strategies are identical on every seed. A benchmark with one seed, or of
    a space's earlier revision, gets no line: it is named below the others."""
    lines = ["One line per benchmark, from the tables below. Test accuracy, mean "
             "over seeds; differences are paired by seed, with 95% t-intervals and paired t-tests Holm-corrected "
             "over every pair of the strategies on each line (3 pairs for three strategies, 10 for five; not across "
             "lines). A replayed line's seeds "
             "are replay seeds: they all read the same table, so its difference is stated only if it also holds "
             "with each of the table's training runs held out (the search replayed on the other runs, the final "
             "fit read from the held-out one) and under the table-noise interval (the replays repeated on "
             "bootstrap resamples of the training runs and replay seeds, final fits never on the chosen trial's "
             "run), where they were made.", ""]
    benchmarks = benchmark_rows(runs)
    newest: dict[str, int] = {}  # space -> its newest revision with a benchmark
    for benchmark in benchmarks:
        space, _, revision = benchmark.space.partition(" r")
        newest[space] = max(newest.get(space, 1), int(revision or 1))
    left_out = []
    speaking = {benchmark: _speaking_rows(all_rows) for benchmark, all_rows in benchmarks.items()}
    for benchmark, rows in speaking.items():
        if benchmark.table_seeds and dataclasses.replace(benchmark, table_seeds="") in speaking:
            continue  # said on the line of the replay on every training run (_on_each_backend)
        space, _, revision = benchmark.space.partition(" r")
        if int(revision or 1) < newest[space] or max(r["seeds"] for r in rows) < 2:
            left_out.append(benchmark.title.replace(" per study", ""))
            continue
        check = ""
        if benchmark.mode == "replayed":
            live = [speaking.get(dataclasses.replace(benchmark, device=d, mode="live")) for d in ("cpu", "gpu")]
            check = live_check(rows, next((r for r in live if r), None)) + _on_each_backend(benchmark, speaking)
        lines.append(f"- {benchmark.title}: {pooled_tasks(rows[0]['table_stack']) or verdict_line(rows)}{check}")
    if left_out:
        lines += ["", "Not above (one seed each, or an earlier revision of a search space; `results/LEADERBOARD.md` "
                  "has them): " + "; ".join(left_out) + "."]
    return "\n".join(lines) + "\n"


def _speaking_rows(all_rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    """The rows of the protocol that speaks for a benchmark: the one with the most seeds (the newest among equals)."""
    protocols: dict[int, list[BenchmarkRow]] = {}
    for row in all_rows:
        protocols.setdefault(row["group"], []).append(row)
    return max(protocols.values(), key=lambda g: (max(r["seeds"] for r in g), -g[0]["group"]))


def _on_each_backend(benchmark: Benchmark, speaking: dict[Benchmark, list[BenchmarkRow]]) -> str:
    """The verdict, by the same rules, of the same protocol replayed on some of the table's training runs alone (one
    backend's, when the table mixes them): one sentence per such replay, after the line on all of them."""
    parts = []
    for other, rows in speaking.items():
        if other.table_seeds and dataclasses.replace(other, table_seeds="") == benchmark and \
                min(r["seeds"] for r in rows) >= 2:
            parts.append(f" **On {rows[0]['table_stack'] or 'these'} training runs alone** (table seeds "
                         f"{other.table_seeds}): " + verdict_line(rows))
    return "".join(parts)


def pooled_tasks(table_stack: str | None) -> str | None:
    """What a replay says instead of a verdict when its table's training runs come from more than one backend: two
    landscapes (docs/tabular.md, "Backends") whose runs a replay would read as seeds of one table (None: one task)."""
    if table_stack is None or " + " not in table_stack:
        return None
    return (f"**pools two tasks, no verdict:** its table's training runs were trained on {table_stack}, two "
            "landscapes that this replay reads as seeds of one table; replay each task's runs alone "
            "(`--table-seeds`).")


def verdict_sentence(run: StoredRun) -> str:
    """A run's own verdict, by the README's rules (a run's summary opens with it)."""
    if pooled := pooled_tasks(_table_stack(run)):
        return pooled
    if len(run.config.strategies) < 2:
        return "one strategy: nothing to compare."
    if len(run.seeds) < 2:
        return "**one seed, no verdict:** one seed cannot separate the strategies."
    workers = run.config.workers
    kind = "simulated workers" if run.config.replay else "keras-tuner workers"
    return (f"with {workers} {kind}: " if workers > 1 else "") + verdict_line(pooled_rows([run]))


def load_runs(results_dir: Path) -> tuple[list[StoredRun], list[str]]:
    """Raises ResultsError when there is no results folder or no run in it."""
    run_dirs = require_run_dirs(results_dir)
    runs: list[StoredRun] = []
    skipped: list[str] = []
    for run_dir in run_dirs:
        try:
            runs.append(load_run(run_dir))
        except ResultsError as exc:
            skipped.append(f"`{run_dir.name}`: {exc}".replace(f"{results_dir}/", ""))  # paths relative to the file
    return runs, skipped


def write_leaderboard(results_dir: Path, also: Sequence[Path] = ()) -> Path:
    """Write `results_dir`'s leaderboard, with the runs of the folders `also` beside its own (the shipped results
    beside a user's, say); each seed conflict it names is also a warning.

    Raises:
        ResultsError: a folder is missing or holds no run, or `results_dir` cannot be written.
    """
    runs, skipped = load_runs(results_dir)
    for folder in also:
        theirs, not_read = load_runs(folder)
        runs, skipped = runs + theirs, skipped + not_read
    ensure_writable_dir(results_dir)
    path = leaderboard_path(results_dir)
    atomic_write_text(path, render_leaderboard(runs, skipped, results_dir, also))
    for conflict in seed_conflicts(runs):
        log.warning("%s (%s)", conflict, path)
    return path
