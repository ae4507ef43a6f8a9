"""Per-run report: `summary.md` (tables) and PNG figures, computed from the stored records alone.

Compute, then render: the `*_rows` functions return plain numbers (tested directly); `render_summary` turns them into
markdown, and `figures` draws the run's PNG figures, which `write_report` writes beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import BASELINE
from ..config import RunConfig
from ..environment import software_stack
from ..errors import ResultsError
from ..records import StudyResult
from .figures import render_confusion_png, render_curves_png, render_regret_png
from .leaderboard import verdict_sentence
from .ranks import ranks_section, render_critical_difference_png, render_ranks_png, shows_ranks
from ..stats import ALPHA, POWER, anytime_curve, first_reach, mean_ranks, median_with_misses, paired_tests, \
    t_interval, wilson_interval, win_counts
from ..store import RunPaths, StoredRun, atomic_write_bytes, atomic_write_text, clone_relative, load_run, read_json, \
    require_run_dirs
from ..markdown import Column, fmt_detectable, fmt_interval, fmt_seconds, markdown_table

__all__ = ["study_rows", "aggregate_rows", "class_rows", "final_table", "render_summary", "resolve_run",
           "write_report"]


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _target_note(cfg: RunConfig) -> str:
    if cfg.target_accuracy is None:
        return ("Target: none, this task has no reference score (set target_accuracy in a --config file to time "
                "one). ")
    return (f"Target: validation accuracy {cfg.target_accuracy} (the original notebook reported 88.2% as its test "
            "accuracy; here it is a target for the search's validation accuracy); epochs/time to target count "
            "training epochs and seconds of the search until it was first reached, '-' if never. ")


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


def study_rows(run: StoredRun) -> list[dict[str, Any]]:
    """One row per study, in config order (strategy, then seed)."""
    target = run.config.target_accuracy
    rows = []
    for st in run.studies:
        r = st.result
        reach = first_reach(anytime_curve(st.epochs, st.trials), target)
        rows.append({
            "strategy": r.strategy, "seed": r.seed, "best_val": r.best_val_accuracy, "test": r.test.accuracy,
            "macro_f1": r.test.macro_f1, "trials": r.trials,
            "epochs": f"{r.epochs_trained} of {r.epochs_budget}" + (
                f" (**{r.epochs_budget - r.epochs_trained} unspent**)" if r.epochs_trained < r.epochs_budget else ""),
            "unique": r.unique_configs, "failed": r.failed_trials, "search_s": r.search_seconds,
            "final_s": r.final_fit_seconds, "reach_epochs": reach[0] if reach else None,
            "reach_s": reach[1] if reach else None, "params": _params(r.best_params),
            "refits": _refit_spread(r.refit_test_accuracies)})
    return rows


def _refit_spread(accuracies: list[float]) -> str | None:
    if not accuracies:
        return None
    if len(accuracies) == 1:
        return f"{_pct(accuracies[0])} (1)"
    return f"{_pct(float(np.mean(accuracies)))} ± {100 * float(np.std(accuracies, ddof=1)):.2f} pp ({len(accuracies)})"


STUDY_COLUMNS = [
    Column("strategy", "strategy"), Column("seed", "seed"),
    Column("best_val", "selection score (val)", _pct), Column("test", "test acc", _pct, "max"),
    Column("macro_f1", "macro F1", lambda v: f"{v:.4f}", "max"),
    Column("epochs", "epochs trained of budget"), Column("trials", "trials"), Column("unique", "configs"),
    Column("failed", "failed"), Column("search_s", "search time", fmt_seconds, "min"),
    Column("final_s", "final fit", fmt_seconds),
    Column("reach_epochs", "epochs to target", str, "min"), Column("reach_s", "time to target", fmt_seconds, "min"),
    Column("params", "best hyperparameters"),
]


def _score_matrix(run: StoredRun) -> tuple[list[str], list[int], np.ndarray]:
    """(strategies, seeds, scores (n_seeds, n_strategies)) over the seeds every strategy completed."""
    strategies = run.strategies
    by_cell = {(st.result.strategy, st.result.seed): st.result.mean_test_accuracy for st in run.studies}
    seeds = [s for s in run.seeds if all((name, s) in by_cell for name in strategies)]
    scores = np.array([[by_cell[(name, s)] for name in strategies] for s in seeds], dtype=float)
    return strategies, seeds, scores.reshape(len(seeds), len(strategies))


def aggregate_rows(run: StoredRun) -> list[dict[str, Any]]:
    """Per strategy over paired seeds: mean/median/t-interval/std of test accuracy, mean rank, wins, the paired
    difference to random search with its t-interval, and the median epochs and seconds to first reach the target
    validation accuracy."""
    strategies, seeds, scores = _score_matrix(run)
    if not seeds:
        return []
    ranks, wins = mean_ranks(scores), win_counts(scores)
    means = scores.mean(axis=0)
    target = run.config.target_accuracy
    rows = []
    for k, name in enumerate(strategies):
        reach = [first_reach(anytime_curve(st.epochs, st.trials), target) for st in run.studies
                 if st.result.strategy == name and st.result.seed in seeds]
        vs_random = scores[:, k] - scores[:, strategies.index(BASELINE)] if BASELINE in strategies else None
        rows.append({
            "strategy": name, "n": len(seeds), "mean": float(means[k]), "median": float(np.median(scores[:, k])),
            "ci": fmt_interval(t_interval(scores[:, k]), unit="%"),
            "std": float(scores[:, k].std(ddof=1)) if len(seeds) > 1 else None,
            "rank": float(ranks[k]), "wins": float(wins[k]),
            "vs_random": None if vs_random is None or name == BASELINE else
            f"{100 * vs_random.mean():+.2f} {fmt_interval(t_interval(vs_random), signed=True)}",
            "reach_epochs": median_with_misses([r[0] if r else None for r in reach]),
            "reach_s": median_with_misses([r[1] if r else None for r in reach]),
            "never": sum(r is None for r in reach)})
    return rows


AGGREGATE_COLUMNS = [
    Column("strategy", "strategy"), Column("n", "seeds"), Column("mean", "mean test acc", _pct),
    Column("median", "median", _pct), Column("ci", "95% CI of mean (t)"),
    Column("std", "std", _pct), Column("rank", "mean rank", lambda v: f"{v:.2f}"),
    Column("wins", "wins (ties split)", lambda v: f"{v:.2f}".rstrip("0").rstrip(".")),
    Column("vs_random", "vs random: mean paired diff (pp) [95% t-CI]"),
    Column("reach_epochs", "median epochs to target", lambda v: f"{v:g}", "min"),
    Column("reach_s", "median time to target", fmt_seconds, "min"), Column("never", "seeds never reaching it"),
]


def class_rows(run: StoredRun) -> tuple[list[dict[str, Any]], list[Column]]:
    """Per class (hardest first, by mean F1 over all studies): precision/recall/F1 per strategy, seed-averaged."""
    strategies = run.strategies
    per: dict[str, dict[str, np.ndarray]] = {}
    for name in strategies:
        tests = [st.result.test for st in run.studies if st.result.strategy == name]
        per[name] = {m: np.mean([getattr(t, m) for t in tests], axis=0) for m in ("precision", "recall", "f1")}  # (10,)
    mean_f1 = np.mean([per[n]["f1"] for n in strategies], axis=0)  # (10,)
    rows = []
    for rank, c in enumerate(np.argsort(mean_f1, kind="stable"), start=1):
        name = run.studies[0].result.test.class_names[c]  # as recorded with the scores
        row: dict[str, Any] = {"rank": rank, "class": f"**{name}**" if rank <= 3 else name,
                               "mean_f1": float(mean_f1[c])}
        for name in strategies:
            row |= {f"{name}_{m}": float(per[name][m][c]) for m in ("precision", "recall", "f1")}
        rows.append(row)
    three = lambda v: f"{v:.3f}"  # noqa: E731
    columns = [Column("rank", "hardest"), Column("class", "class"), Column("mean_f1", "mean F1", three)]
    for name in strategies:
        columns += [Column(f"{name}_precision", f"{name} P", three), Column(f"{name}_recall", f"{name} R", three),
                    Column(f"{name}_f1", f"{name} F1", three)]
    return rows, columns


def _paired_section(run: StoredRun) -> str:
    strategies, seeds, scores = _score_matrix(run)
    if len(seeds) < 2 or len(strategies) < 2:
        return ""
    tests = paired_tests(strategies, scores)
    rows = [{"pair": f"{t.a} - {t.b}", "diff": t.mean_diff, "ci": fmt_interval(t.ci, signed=True), "p": t.p_value,
             "p_holm": t.p_holm, "detectable": t.detectable,
             "wins": f"{t.a_wins:.2f} [{t.a_wins_ci[0]:.2f}, {t.a_wins_ci[1]:.2f}]",
             "verdict": f"{t.a if t.mean_diff > 0 else t.b} better" if t.significant else
             "identical on every seed" if t.identical else
             f"not significant; {POWER:.0%} power only for >= {100 * t.detectable:.2f} pp"} for t in tests]
    columns = [Column("pair", "pair"), Column("diff", "mean difference (pp)", lambda v: f"{100 * v:+.2f}"),
               Column("ci", "95% CI (pp, paired t)"), Column("p", "raw p (paired t)", lambda v: f"{v:.3f}"),
               Column("p_holm", "Holm-adjusted p", lambda v: f"{v:.3f}"),
               Column("detectable", "detectable difference (pp)", fmt_detectable),
               Column("wins", "P(first beats second on a seed) [95% Wilson]"),
               Column("verdict", f"at {ALPHA:g} after Holm")]
    return ("### Paired differences in test accuracy\n\n"
            + markdown_table(rows, columns, legend=(
                f"Paired by seed over {len(seeds)} seeds: every strategy sees the same data split and the same "
                "random streams on a seed (common random numbers), so their first trials coincide and a tie on a "
                "seed is often the same configuration refit alike, not two strategies doing equally well. "
                "Two-sided paired t-test; raw p and Holm-adjusted p over all pairs (a t-test at every seed count: "
                "with 5 seeds an exact Wilcoxon test cannot reach p < 0.05). Detectable difference: the smallest "
                f"true mean difference this many seeds would detect with {POWER:.0%} power at {ALPHA:g}/{len(tests)} "
                "(Holm's strictest step), given the spread of the per-seed differences (paired t, noncentral t). "
                "P(first beats second): share of seeds on which the first scored higher, ties counted half.")) + "\n")


def _lr_decay(cfg: RunConfig) -> str:
    decay = cfg.final_lr_decay
    return "" if decay == 1.0 else f"; learning rate x{decay:g} after {cfg.lr_plateau_patience} epochs without gain"


def _config_env_table(run: StoredRun) -> str:
    cfg, env = run.config, run.env
    devices = sorted({st.result.device for st in run.studies})
    rows = [{"key": k, "value": v} for k, v in [
        ("space", run.space_label), ("preset", cfg.preset), ("strategies", ", ".join(cfg.strategies)),
        ("seeds", ", ".join(map(str, cfg.seeds))), ("budget per study", _budget(cfg)),
        ("epochs per trial (Hyperband max_epochs)", cfg.epochs_per_trial), ("batch size", cfg.batch_size),
        ("final fit", f"up to {cfg.final_epochs} epochs, early stopping on val_accuracy, "
                      f"patience {cfg.patience}, best weights restored" + _lr_decay(cfg)),
        ("data", _data_sizes(run)),
        ("target validation accuracy", cfg.target_accuracy),
        ("trial workers per study", cfg.workers),
        ("backend / Keras / keras-tuner", software_stack(env)),
        ("Python", env.get("python")), ("device", "; ".join(devices)), ("CPU", _cpu(env)),
        ("started / finished (UTC)", f"{env.get('started_at', '-')} / {env.get('finished_at', '-')}")]]
    return markdown_table(rows, [Column("key", "setting"), Column("value", "value")])


def _data_sizes(run: StoredRun) -> str:
    """Fashion-MNIST's split from the config; a user's dataset by its source and fingerprint, with the validation
    size the config holds and the test size its studies' confusion matrices count (the training size is not
    stored)."""
    cfg = run.config
    if cfg.data is None:
        return (f"train {cfg.train_subset or 60000 - cfg.val_size}, validation {cfg.val_size}, "
                f"test {cfg.test_subset or 10000}")
    tested = {int(np.sum(st.result.test.confusion)) for st in run.studies if st.result.test.confusion}
    return (f"{cfg.data} (fingerprint {cfg.data_fingerprint}): validation {cfg.val_size}"
            + (f", test {tested.pop()}" if len(tested) == 1 else ""))


def _cpu(env: dict[str, Any]) -> str | None:
    """'AMD EPYC (AVX2)': the vector extensions are part of what a rerun must match (runs before they were recorded
    show the name alone)."""
    isa = env.get("cpu_isa")
    return f"{env.get('cpu')} ({isa})" if isa else env.get("cpu")


REFITS_COLUMN = Column("refits", "refits: test acc mean ± sd (n)")
STUDY_ROWS_MAX_SEEDS = 10  # beyond this, the summary aggregates instead of listing every study


def _replay_note(run: StoredRun) -> str:
    if not run.config.replay:
        return ""
    table = run.env.get("table", {})
    built = sorted({d for b in table.get("builds", {}).values() for d in b.get("devices") or []})
    return (f" **Replayed** from the tabular benchmark in `{clone_relative(table.get('folder', '?'))}` (training seeds "
            f"{', '.join(map(str, table.get('seeds', [])))}; built on {'; '.join(built) or '?'}): keras-tuner's own "
            "oracles chose every trial, whose epochs were read from the table, not trained. Times are the table's "
            "recorded epoch seconds on the machine that built it plus the oracle's compute measured in the replay, "
            "so they describe that machine." + _workers_note(run.config.workers))


def _workers_note(workers: int) -> str:
    if workers == 1:
        return ""
    return (f" **{workers} simulated workers**: each free worker asked the oracle for a trial while the others' "
            "trials ran, on a simulated clock (docs/parallel.md); search times are that clock's wall time, not the "
            "sum of the trials' times.")


def _replay_reference(run: StoredRun) -> Any:
    """The regret reference of a replayed run, from the training runs it was replayed on: the seeds its record
    names (a table that gained a seed since still gives a finished run's report as it was), else those its config
    names, else all.

    Raises:
        TableError: the table is no longer where the run recorded it, or lost one of those seeds.
    """
    from ..tabular.regret import reference
    from ..tabular.table import load_table

    cfg = run.config
    recorded = run.env.get("table", {})
    table = load_table(Path(recorded.get("folder", "")), space=cfg.space)
    seeds = recorded.get("seeds") or cfg.table_seeds
    if seeds:
        table = table.only(tuple(seeds))
    return reference(table, epochs_per_trial=cfg.epochs_per_trial, final_epochs=cfg.final_epochs,
                     patience=cfg.patience)


def _regret_marks(budget: int) -> list[int]:
    """The epochs at which the regret table reads each study: a third, two thirds and all of the budget."""
    return sorted({max(1, budget // 3), max(1, 2 * budget // 3), budget})


def regret_rows(run: StoredRun, ref: Any) -> list[dict[str, Any]]:
    """Per strategy: mean simple regret (pp, t-interval) at a third, two thirds and all of the epoch budget, the
    share of studies whose choice is the grid's best configuration (Wilson), the paired difference of final regret
    to random search, and the test regret of the final fit."""
    from ..tabular.regret import regret_after

    marks = np.array(_regret_marks(run.config.budget_epochs))
    by_strategy = {name: sorted((st for st in run.studies if st.result.strategy == name), key=lambda st: st.result.seed)
                   for name in run.strategies}
    regrets = {name: np.array([regret_after(st.trials, ref, marks) for st in items]).reshape(len(items), len(marks))
               for name, items in by_strategy.items()}  # (studies, marks)
    final = {name: values[:, -1] for name, values in regrets.items()}
    rows = []
    for name, items in by_strategy.items():
        row: dict[str, Any] = {"strategy": name, "n": len(items)}
        for k, mark in enumerate(marks):
            row[f"at{mark}"] = _mean_ci(regrets[name][:, k])
        found = sum(st.result.best_params == _params_of(ref.best_key) for st in items)
        low, high = wilson_interval(found, len(items))
        row["found"] = f"{found / len(items):.2f} [{low:.2f}, {high:.2f}]"
        paired = final[name] - final[BASELINE] if BASELINE in final and name != BASELINE and \
            len(final[name]) == len(final[BASELINE]) else None
        row["vs_random"] = None if paired is None else \
            f"{paired.mean():+.2f} {fmt_interval(np.array(t_interval(paired)) / 100, signed=True)}"
        test_regret = 100 * (ref.best_test - np.array([st.result.mean_test_accuracy for st in items]))
        row["test_regret"] = _mean_ci(test_regret)
        rows.append(row)
    return rows


def _params_of(key: str) -> dict[str, Any]:
    import json

    return json.loads(key)


def _mean_ci(values: np.ndarray) -> str:
    """'0.42 [0.31, 0.53]' in pp from values in pp (t-interval; nan values, studies with no trial yet, left out)."""
    values = values[~np.isnan(values)]
    if not values.size:
        return "-"
    return f"{values.mean():.2f} {fmt_interval(t_interval(values / 100))}"


def regret_section(run: StoredRun, ref: Any) -> str:
    budget = run.config.budget_epochs
    marks = _regret_marks(budget)
    columns = [Column("strategy", "strategy"), Column("n", "studies")]
    columns += [Column(f"at{m}", f"regret after {m} epochs (pp) [95% t-CI]") for m in marks]
    columns += [Column("found", "chose the grid's best [95% Wilson]"),
                Column("vs_random", f"vs random: paired diff of regret after {budget} epochs (pp) [95% t-CI]"),
                Column("test_regret", "test regret (pp) [95% t-CI]")]
    best = ", ".join(f"{k}={v}" for k, v in _params_of(ref.best_key).items())
    return ("### Simple regret\n\n" + markdown_table(regret_rows(run, ref), columns, legend=(
        "Simple regret: the grid's best configuration's value minus the value of the search's incumbent (its "
        "best-scoring trial so far), in percentage points; a configuration's value is its best validation accuracy "
        f"in a full {run.config.epochs_per_trial}-epoch trial, averaged over the table's seeds, so regret scores "
        f"the choice, not the noise of its refit. The grid's best: {best} ({100 * ref.best_value:.2f}% validation). "
        "Lower is better; 0 means the search chose the grid's best. Test regret: the grid's best configuration's "
        f"test accuracy under the same final-fit rule ({100 * ref.best_test:.2f}%) minus the study's test "
        "accuracy; it includes refit noise and can be negative. Intervals: Student t over studies; chose the "
        "grid's best: Wilson score interval.")) + "\n")


def _unspent_note(run: StoredRun) -> str:
    short = sorted({st.result.strategy for st in run.studies if st.result.epochs_trained < st.result.epochs_budget})
    if not short:
        return ""
    return (f" Unspent epochs ({', '.join(short)}): the strategy's next scheduled trial did not fit in what was left "
            "of the budget (Hyperband's brackets come in fixed sizes), so it trained fewer epochs than the others; "
            "its results had less compute.")


def _refits_note(cfg: RunConfig) -> str:
    if cfg.refits_on_other_seeds:
        return (" Final fits: each study's chosen configuration is read from every whole-grid table seed except the "
                "one its winning trial read (a live final fit starts from a fresh initialisation), each stopped by "
                f"Keras's early-stopping rule (patience {cfg.patience} on validation accuracy, best epoch "
                f"restored, at most {cfg.final_epochs} epochs); the study's test accuracy is their mean (the refits "
                "column), and test acc, macro F1 and the per-class tables are its first fit's.")
    if cfg.refits == 1:
        return ""
    return (f" Refits: the chosen configuration trained {cfg.refits} times from different initialisations; "
            "their spread is refit noise. Test acc, macro F1 and the per-class tables are the first refit's; "
            "comparisons across seeds use each study's mean over its refits.")


def _budget(cfg: RunConfig) -> str:
    epochs = f"{cfg.budget_epochs} training epochs"
    if cfg.budget_seconds is None:
        return epochs
    return (f"{cfg.budget_seconds:g} s of search or {epochs}, whichever is spent first (a time budget depends "
            "on the machine that ran it)")


def _design(cfg: RunConfig) -> str:
    if cfg.streams == "independent":
        return ("Design: independent streams; each strategy's oracle, weight init and refit draw from a stream of "
                "their own, and only the data split is shared on a seed.")
    return ("Design: paired (common random numbers); on a seed, every strategy gets the same data split and the "
            "same random streams, so their first random trials coincide and ties are common.")


def _time_basis(run: StoredRun) -> str:
    """What the search times and time axes of this run include, which depends on what its records measured."""
    measured = all(t.oracle_seconds is not None for st in run.studies for t in st.trials)
    included = ("each trial's wall time (model building, training, checkpointing) plus the oracle's own compute "
                "before it (Bayesian's Gaussian-process fit)" if measured else
                "each trial's wall time (model building, training, checkpointing); this run's records predate the "
                "measurement of the oracle's own compute between trials, which is therefore left out")
    return (f"Search time and time to target count {included}; process start-up and data loading are left out. "
            "With --workers, search time is the chief's wall time, as trials overlap.")


def render_summary(run: StoredRun, reference: Any = None) -> str:
    """The run's summary.md; a replayed run's regret section needs its table's regret `reference` (read from the
    table when not given)."""
    cfg = run.config
    paths = RunPaths(run.root)
    complete = len(run.studies)
    expected = len(cfg.strategies) * len(cfg.seeds)
    parts = [f"# Run {run.root.name}\n", f"**Verdict** (by the README's rules): {verdict_sentence(run)}\n",
             f"Search space `{run.space_label}`, {len(run.strategies)} strategies x {len(run.seeds)} seed(s), "
             f"budget {_budget(cfg)} per study. {complete} of {expected} studies complete. "
             + _design(cfg) + _replay_note(run) + "\n"]
    if len(run.seeds) > STUDY_ROWS_MAX_SEEDS:
        parts += ["## Strategies\n", f"{complete} studies: one row each would bury the comparison; they are in "
                  f"`{paths.link(paths.studies_archive)}` (one JSON document per study, with every trial and "
                  "epoch). The tables below aggregate them.\n"]
    else:
        parts += ["## Strategies\n",
             markdown_table(study_rows(run),
                            STUDY_COLUMNS + ([REFITS_COLUMN] if cfg.refits > 1 or cfg.refits_on_other_seeds else []),
                            legend=(
                 "Selection score: the chosen trial's best epoch on the validation split, the value keras-tuner "
                 "ranks trials by; the maximum over every epoch of every trial, so it is optimistic, and it is not "
                 "a test result. Test acc: the refit of that configuration, evaluated once on the test set. "
                 + _target_note(cfg) + _time_basis(run) + _refits_note(cfg) + _unspent_note(run))), ""]
    if len(run.seeds) > 1:
        has_target = cfg.target_accuracy is not None  # a user's task has none: no columns about reaching it
        parts += [f"## Across {len(run.seeds)} seeds\n", markdown_table(
                  aggregate_rows(run), AGGREGATE_COLUMNS if has_target else AGGREGATE_COLUMNS[:-3], legend=(
                  "95% CI of mean: Student-t interval over seeds. Vs random: the mean over seeds of (strategy - "
                  "random) in percentage points with its paired t-interval. Mean rank and wins: ties (frequent, "
                  "see below) share the rank and split the seed; they describe these seeds and are not evidence "
                  "by themselves." + (" Median epochs/time to target count a seed that never reached it as "
                                      "infinite: '-' means the median seed never got there." if has_target else ""))),
                  "", _paired_section(run)]
    if run.config.replay:
        parts.append(regret_section(run, reference if reference is not None else _replay_reference(run)))
    if shows_ranks(run):
        figures = f"![anytime ranks]({paths.link(paths.ranks)})" + (
            f" ![critical-difference diagram]({paths.link(paths.critical_difference)})"
            if paths.critical_difference.is_file() else "")
        parts.append(ranks_section(run, figures=figures))
    rows, columns = class_rows(run)
    parts += ["## Per class (test set)\n",
              markdown_table(rows, columns, legend=(
                  "Hardest classes first (lowest F1 averaged over strategies"
                  + (f" and {len(run.seeds)} seeds" if len(run.seeds) > 1 else "")
                  + "); the three hardest in bold. P = precision, R = recall.")), "",
              "## Figures\n",
              f"![best validation accuracy vs epochs]({paths.link(paths.curves_epochs)}) "
              f"![best validation accuracy vs time]({paths.link(paths.curves_time)})"
              + (f" ![simple regret vs epochs]({paths.link(paths.curves_regret)})" if run.config.replay else "")
              + "\n",
              "\n".join(f"- `{st.result.name}`: [confusion matrix]"
                        f"({paths.link(paths.study(st.result.strategy, st.result.seed).confusion)})"
                        for st in run.studies) if not run.config.replay else
              "(No per-study confusion matrices for a replayed run: its studies read the table's stored matrices; "
              "the per-class table above aggregates them.)", "",
              "## Config and environment\n", _config_env_table(run)]
    return "\n".join(parts)


def final_table(results: list[StudyResult]) -> str:
    """The short table `run` prints at the end."""
    from tabulate import tabulate

    rows = [[r.strategy, r.seed, _pct(r.best_val_accuracy), _pct(r.test.accuracy), f"{r.test.macro_f1:.4f}",
             r.epochs_trained, r.trials, fmt_seconds(r.search_seconds), fmt_seconds(r.final_fit_seconds)]
            for r in results]
    return tabulate(rows, headers=["strategy", "seed", "selection (val)", "test acc", "macro F1", "epochs", "trials",
                                   "search time", "final fit"], tablefmt="simple", disable_numparse=True)


def resolve_run(results_dir: Path, run: str | None) -> Path:
    """A run id, a run folder, or (None) the run under `results_dir` that finished last."""
    if run is not None:
        for candidate in (Path(run), results_dir / "runs" / run):
            if RunPaths(candidate).config.is_file():
                return candidate
        raise ResultsError(f"no run {run!r} under {results_dir / 'runs'}; list them with `ls {results_dir / 'runs'}`")
    return max(require_run_dirs(results_dir), key=_recorded_finish)


def _recorded_finish(run_dir: Path) -> tuple[str, str]:
    """When the run finished (else started), from its env.json: file times are all equal in a fresh clone.

    The stored times are ISO 8601 in UTC, so they order as strings; the run id breaks ties deterministically.
    """
    paths = RunPaths(run_dir)
    try:
        env = read_json(paths.env, "env")
    except ResultsError:
        env = {}
    return str(env.get("finished_at") or env.get("started_at") or ""), run_dir.name


def write_report(run_dir: Path) -> Path:
    """Write summary.md, the two curve figures and one confusion matrix per study; return summary.md's path."""
    run = load_run(run_dir)
    paths = RunPaths(run_dir)
    reference = _replay_reference(run) if run.config.replay else None  # the table is read once
    if reference is not None:
        atomic_write_bytes(paths.curves_regret, render_regret_png(run, reference))
    else:
        for st in run.studies:
            atomic_write_bytes(paths.study(st.result.strategy, st.result.seed).confusion,
                               render_confusion_png(st.result))
    if shows_ranks(run):
        atomic_write_bytes(paths.ranks, render_ranks_png(run))
        try:
            atomic_write_bytes(paths.critical_difference, render_critical_difference_png(run))
        except ImportError:  # the ranks extra is not installed: the summary says how to get the diagram
            paths.critical_difference.unlink(missing_ok=True)
    atomic_write_bytes(paths.curves_epochs, render_curves_png(run, by="epochs"))
    atomic_write_bytes(paths.curves_time, render_curves_png(run, by="seconds"))
    atomic_write_text(paths.summary, render_summary(run, reference))
    return paths.summary
