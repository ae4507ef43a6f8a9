"""Report and leaderboard on hand-built study records: values, ordering, determinism, schema handling."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from fmnist_bench.cli import main
from fmnist_bench.config import PRESETS
from fmnist_bench.errors import ResultsError
from fmnist_bench.reports import render_leaderboard, write_leaderboard
from fmnist_bench.engine import score_predictions
from fmnist_bench.records import EpochRecord, StudyResult, TrialRecord, TrialStatus
from fmnist_bench.reports.summary import aggregate_rows, class_rows, render_summary, study_rows, write_report
from fmnist_bench.store import RunPaths, atomic_write_json, load_run

pytestmark = pytest.mark.stack_independent  # see pyproject.toml: CI's Keras 2 env skips it

CFG = PRESETS["smoke"].replace(seeds=(1, 2))


def _study(paths: RunPaths, strategy: str, seed: int, correct: int, val_accs: list[float], **fields) -> None:
    y_true = np.arange(100) % 10
    y_pred = y_true.copy()
    y_pred[correct:] = (y_pred[correct:] + 1) % 10  # the first `correct` predictions are right
    scores = score_predictions(y_true, y_pred)
    tid = f"{strategy}-s{seed}-t000"
    trial = TrialRecord(tid, 0, TrialStatus.COMPLETE, max(val_accs), {"neurons": 64}, len(val_accs), 0,
                        len(val_accs), 3.0)
    epochs = [EpochRecord(tid, i + 1, 0.4, 0.9, 0.4, a, 1.5) for i, a in enumerate(val_accs)]
    result = StudyResult(strategy, seed, "ann", CFG.digest(), tid, {"neurons": 64}, max(val_accs), max(val_accs),
                         2, 2, scores, 0.3, CFG.budget_epochs, len(val_accs), len(val_accs), 1, 0, 1, 3.0,
                         2.0, "cpu: test", 2, **fields)
    folder = paths.study_dir(strategy, seed)
    atomic_write_json(folder / "records.json", "records",
                      {"trials": [trial.to_dict()], "epochs": [e.to_dict() for e in epochs]})
    atomic_write_json(folder / "study.json", "study", result.to_dict())


@pytest.fixture
def results(tmp_path: Path) -> Path:
    paths = RunPaths(tmp_path / "runs" / "r1")
    atomic_write_json(paths.config, "config", {"config": CFG.to_dict()})
    atomic_write_json(paths.env, "env", {"tensorflow": "2.21.0", "keras": "3.15.1", "keras_tuner": "1.4.8",
                                         "started_at": "2026-11-25T20:00:00+00:00"})
    # test accuracy: random 0.80/0.82, hyperband 0.90/0.86, bayesian 0.85/0.84
    for strategy, per_seed in {"random": (80, 82), "hyperband": (90, 86), "bayesian": (85, 84)}.items():
        for seed, correct in zip((1, 2), per_seed, strict=True):
            _study(paths, strategy, seed, correct, [0.85, 0.883, 0.87] if strategy == "hyperband" else [0.85, 0.86])
    return tmp_path


def test_study_rows_hold_the_recorded_values(results: Path) -> None:
    rows = study_rows(load_run(results / "runs" / "r1"))
    assert [(r["strategy"], r["seed"]) for r in rows] == [
        ("random", 1), ("random", 2), ("hyperband", 1), ("hyperband", 2), ("bayesian", 1), ("bayesian", 2)]
    assert [r["test"] for r in rows] == [0.80, 0.82, 0.90, 0.86, 0.85, 0.84]
    hyperband = rows[2]
    assert (hyperband["reach_epochs"], hyperband["reach_s"]) == (2, 3.0)  # 0.883 >= 0.882 at the 2nd epoch
    assert rows[0]["reach_epochs"] is None
    assert rows[0]["epochs"] == "2 of 6 (**4 unspent**)"  # shown where a reader compares the strategies
    assert "Unspent epochs (bayesian, hyperband, random)" in render_summary(load_run(results / "runs" / "r1"))


def test_aggregates_rank_the_better_strategy_first(results: Path) -> None:
    rows = {r["strategy"]: r for r in aggregate_rows(load_run(results / "runs" / "r1"))}
    assert rows["hyperband"]["mean"] == pytest.approx(0.88) and rows["hyperband"]["rank"] == 1.0
    assert rows["random"]["rank"] == 3.0 and rows["hyperband"]["wins"] == 2.0
    # paired differences to random: hyperband +10, +4 pp (mean +7, sd 4.243, t(1) 12.706 -> +-38.12 pp)
    assert rows["random"]["vs_random"] is None
    assert rows["hyperband"]["vs_random"] == "+7.00 [-31.12, +45.12]"
    assert rows["random"]["ci"] == "[68.29%, 93.71%]"  # 81 +- 12.706 x 1.414 / sqrt 2
    assert rows["hyperband"]["never"] == 0 and rows["random"]["never"] == 2
    assert rows["hyperband"]["reach_epochs"] == 2 and rows["random"]["reach_epochs"] is None


def test_class_table_puts_the_hardest_class_first(results: Path) -> None:
    rows, _ = class_rows(load_run(results / "runs" / "r1"))
    f1 = [r["mean_f1"] for r in rows]
    assert f1 == sorted(f1) and len(rows) == 10
    assert [r["class"].startswith("**") for r in rows] == [True] * 3 + [False] * 7


def test_summary_and_figures_are_written(results: Path) -> None:
    summary = write_report(results / "runs" / "r1")
    mask = os.umask(0)
    os.umask(mask)
    assert summary.stat().st_mode & 0o777 == 0o666 & ~mask  # ordinary file permissions, not mkstemp's 0600
    text = summary.read_text()
    assert "## Across 2 seeds" in text and "Paired differences" in text and "| 88.00% " in text
    # it opens with its verdict, by the README's rules (2 seeds: +7 pp [-31, +45] is no difference)
    assert text.splitlines()[2].startswith("**Verdict** (by the README's rules): **no strategy is shown better** at 2")
    assert "**88.00%**" not in text  # no mean is bolded as a winner: the intervals decide, not the order
    for png in [results / "runs/r1/curves_epochs.png", results / "runs/r1/curves_time.png",
                results / "runs/r1/studies/random-seed1/confusion.png"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_leaderboard_is_one_table_per_benchmark_deterministic_and_flags_unknown_schemas(results: Path) -> None:
    first = write_leaderboard(results).read_bytes()
    assert write_leaderboard(results).read_bytes() == first
    text = first.decode()
    assert "## `ann r2`, 6 epochs per study, CPU, live" not in text  # a smoke run is no benchmark
    assert "## Compatibility smoke runs" in text and "[r1](runs/r1/summary.md)" in text
    assert "## Published references" in text and "88.33%" in text
    bad = RunPaths(results / "runs" / "r0-old")
    bad.root.mkdir(parents=True)
    bad.config.write_text(json.dumps({"schema": 99, "kind": "config", "config": {}}))
    text = write_leaderboard(results).read_text()
    assert "## Runs not included" in text and "`r0-old`: " in text and "schema 99" in text


def _benchmark_run(results: Path, name: str, per_seed: dict[str, tuple[int, ...]], started: str) -> None:
    """A `quick`-preset run (a benchmark, unlike smoke) with the given correct-out-of-100 per strategy and seed."""
    cfg = PRESETS["quick"].replace(seeds=tuple(range(1, max(map(len, per_seed.values())) + 1)))
    paths = RunPaths(results / "runs" / name)
    atomic_write_json(paths.config, "config", {"config": cfg.to_dict(), "space_revision": 2})
    atomic_write_json(paths.env, "env", {"tensorflow": "2.21.0", "keras": "3.15.1", "keras_tuner": "1.4.8",
                                         "started_at": started})
    for strategy, corrects in per_seed.items():
        for seed, correct in enumerate(corrects, start=1):
            _study(paths, strategy, seed, correct, [0.85, 0.86])


def test_leaderboard_pools_seeds_of_one_protocol_and_ranks_within_a_benchmark(tmp_path: Path) -> None:
    from fmnist_bench.reports.leaderboard import benchmark_of, pooled_rows

    _benchmark_run(tmp_path, "q1", {"random": (80, 81), "bayesian": (84, 86)}, "2026-11-20T10:00:00+00:00")
    _benchmark_run(tmp_path, "q2", {"random": (80, 81, 82), "bayesian": (84, 86, 85)}, "2026-11-21T10:00:00+00:00")
    runs = [load_run(tmp_path / "runs" / n) for n in ("q1", "q2")]
    assert benchmark_of(runs[0]) == benchmark_of(runs[1])
    rows = pooled_rows(runs)
    assert [(r["strategy"], r["seeds"]) for r in rows] == [("bayesian", 3), ("random", 3)]  # seeds 1, 2 once each
    diff, ci, n = rows[0]["vs_random"]
    assert diff == pytest.approx(0.04) and n == 3  # (84-80, 86-81, 85-82) / 3 = 4 pp
    assert ci == pytest.approx((0.04 - 4.302653 * 0.01 / 3 ** 0.5, 0.04 + 4.302653 * 0.01 / 3 ** 0.5), abs=1e-6)


def test_leaderboard_also_puts_another_folders_runs_beside_and_names_a_seed_they_disagree_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A user's runs beside the shipped ones: one protocol pools, and random seed 2, stored by both with different
    scores, is named (in the file and as a warning) instead of being silently dropped."""
    mine, shipped = tmp_path / "local", tmp_path / "shipped"
    _benchmark_run(mine, "q1", {"random": (80, 81), "bayesian": (84, 86)}, "2026-11-20T10:00:00+00:00")
    _benchmark_run(shipped, "q2", {"random": (80, 79, 82), "bayesian": (84, 86, 85)}, "2026-11-21T10:00:00+00:00")
    assert main(["leaderboard", "--results-dir", str(mine), "--also", str(shipped)]) == 0
    text = (mine / "LEADERBOARD.md").read_text()
    assert "[q1](runs/q1/summary.md)" in text and "[q2](../shipped/runs/q2/summary.md)" in text
    # seeds 1-3 pooled across the two folders, seed 2 from the first in name order (80, 81, 82)
    assert re.search(r"\| random +\|.*\| 3 +\| 81\.00% ", text)
    (conflict,) = [line for line in text.splitlines() if line.startswith("- random seed 2")]
    assert f"`{mine / 'runs' / 'q1'}` (81.00%)" in conflict and f"`{shipped / 'runs' / 'q2'}` (79.00%)" in conflict
    assert "random seed 2 of one protocol differs" in capsys.readouterr().err
    assert not (shipped / "LEADERBOARD.md").exists()  # --also folders are read, never written
    assert "--also" in text.splitlines()[-1]  # the rebuild command says it


def test_a_row_s_mean_count_and_test_use_the_seeds_every_strategy_has(tmp_path: Path) -> None:
    """A user added a 10-seed Bayesian run to 20-seed random and Hyperband runs: the rows compare 10 seeds."""
    from fmnist_bench.reports import pooled_rows, render_verdict

    _benchmark_run(tmp_path, "more", {"random": (80, 81, 82, 90), "hyperband": (82, 83, 84, 70)},
                   "2026-11-20T10:00:00+00:00")
    _benchmark_run(tmp_path, "fewer", {"bayesian": (85, 86, 86)}, "2026-11-20T10:00:00+00:00")
    runs = [load_run(tmp_path / "runs" / n) for n in ("fewer", "more")]
    rows = {r["strategy"]: r for r in pooled_rows(runs)}
    assert rows["random"]["seeds"] == 3 and rows["random"]["seeds_label"] == "3 of 4"
    assert rows["bayesian"]["seeds_label"] == "3"
    assert rows["random"]["mean"] == pytest.approx(0.81)  # seeds 1-3 only, not seed 4's 0.90
    assert rows["hyperband"]["vs_random"][0] == pytest.approx(0.02) and rows["hyperband"]["vs_random"][2] == 3
    verdict = render_verdict(runs)
    assert ", 3 seeds)" in verdict and "4 seeds" not in verdict  # the verdict quotes the seeds it compared


def test_the_verdict_follows_the_records(tmp_path: Path) -> None:
    from fmnist_bench.reports import render_verdict
    from fmnist_bench.reports.leaderboard import load_runs

    def verdict() -> str:
        return render_verdict(load_runs(tmp_path)[0])

    # 6 seeds where Bayesian is 4-6 pp better on every seed: significant after Holm
    _benchmark_run(tmp_path, "clear", {"random": (80, 81, 82, 80, 81, 82), "bayesian": (85, 86, 86, 84, 86, 87),
                                       "hyperband": (80, 82, 81, 81, 80, 82)}, "2026-11-21T10:00:00+00:00")
    text = verdict()
    # differences 5, 5, 4, 4, 5, 5 pp: mean 4.67, sd 0.516, t(0.975, 5) 2.5706 -> +-0.54
    assert "**bayesian beats random search by 4.67 pp (95% CI [+4.12, +5.21], 6 seeds); " in text
    # a significant pair without random search is stated too: bayesian - hyperband = 5, 4, 5, 3, 6, 5 pp
    assert "bayesian beats hyperband by 4.67 pp (95% CI [+3.58, +5.75], 6 seeds).**" in text
    # the same seeds with the difference gone: the verdict says what could have been missed instead
    _benchmark_run(tmp_path, "clear", {"random": (80, 81, 82, 80, 81, 82), "bayesian": (81, 80, 82, 81, 80, 82),
                                       "hyperband": (80, 82, 81, 81, 80, 82)}, "2026-11-21T10:00:00+00:00")
    text = verdict()
    assert ("**no strategy is shown better** at 6 seeds (these seeds detect, with 80% power, only differences to "
            "random search of ") in text
    # no strategy beats random search, but one beats another: both are said
    # (random is noisy against both; bayesian - hyperband = 2, 2, 2, 2, 2, 3 pp)
    _benchmark_run(tmp_path, "clear", {"random": (84, 75, 86, 74, 83, 78), "bayesian": (80, 81, 82, 80, 81, 83),
                                       "hyperband": (78, 79, 80, 78, 79, 80)}, "2026-11-21T10:00:00+00:00")
    text = verdict()
    assert "**no strategy is shown better than random search** at 6 seeds (" in text
    assert "**but bayesian beats hyperband by 2.17 pp (95% CI [+1.74, +2.60], 6 seeds).**" in text
    assert text in write_leaderboard(tmp_path).read_text()  # the leaderboard opens with the verdicts


def test_the_readme_answer_block_is_rewritten_between_its_markers(tmp_path: Path) -> None:
    from fmnist_bench.reports.answer import ANSWER_END, ANSWER_START, write_answer

    _benchmark_run(tmp_path, "live", {"random": (80, 81), "bayesian": (85, 86)}, "2026-11-21T10:00:00+00:00")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{ANSWER_START}\nold text\n{ANSWER_END}\n\nrest\n")
    assert write_answer(tmp_path, readme) == [readme]  # no replay stored: no figure
    text = readme.read_text()
    assert "old text" not in text and text.endswith(f"{ANSWER_END}\n\nrest\n") and "![Difference" in text
    readme.write_text("no markers\n")
    with pytest.raises(ResultsError, match="has no answer block"):
        write_answer(tmp_path, readme)


def test_tasks_are_compared_by_their_ranks_over_the_strategies_they_share() -> None:
    from fmnist_bench.reports.answer import AnswerPoint, cross_task_ranks

    def point(task: str, strategy: str, diff: float, budget: int = 90, workers: int = 1) -> AnswerPoint:
        return AnswerPoint(task, budget, strategy, diff, (diff - 0.1, diff + 0.1), None, False, 100, workers)

    points = [point("a", "hyperband", 0.002), point("a", "bayesian", -0.001), point("a", "tpe", 0.004),
              point("b", "hyperband", -0.003), point("b", "bayesian", -0.001),
              point("b", "hyperband", 0.01, workers=16), point("c", "bayesian", 0.5, budget=30)]
    # tpe is on one task only, the 16-worker replay is another question, 30 epochs has one task
    assert cross_task_ranks(points) == [(90, 2, [("random", 1.5), ("hyperband", 2.0), ("bayesian", 2.5)])]


@pytest.fixture(scope="module")
def committed_runs() -> list:
    """Every committed run, read once for the tests of what the shipped results say (reading them takes seconds)."""
    from fmnist_bench.reports.leaderboard import load_runs

    return load_runs(Path(__file__).resolve().parents[1] / "results")[0]


def test_the_committed_readme_answer_and_figure_are_current(committed_runs: list) -> None:
    """The README's answer table and results/answer.png show what the committed runs say (the figure is compared by
    the digest of its points, which it carries, so that another matplotlib's bytes do not matter)."""
    from PIL import Image

    from fmnist_bench.reports.answer import ANSWER_END, ANSWER_START, answer_digest, answer_points, \
        render_answer_table

    root = Path(__file__).resolve().parents[1]
    runs = committed_runs
    points = answer_points(runs)
    readme = (root / "README.md").read_text()
    block = readme[readme.index(ANSWER_START) + len(ANSWER_START) + 1:readme.index(ANSWER_END)]
    rebuild = "rebuild them: python -m fmnist_bench leaderboard --results-dir results --readme README.md"
    assert block == render_answer_table(points), rebuild
    with Image.open(root / "results" / "answer.png") as figure:
        assert figure.info.get("Description") == answer_digest(points), rebuild


def test_render_summary_reports_incomplete_runs(results: Path) -> None:
    (results / "runs/r1/studies/bayesian-seed2/study.json").unlink()
    text = render_summary(load_run(results / "runs" / "r1"))
    assert "5 of 6 studies complete" in text


def test_benchmark_ratios_are_medians_of_per_pair_ratios_with_their_spread() -> None:
    from fmnist_bench.reports.benchmarks import ratio_rows

    def bench(name: str, paired: dict | None = None) -> dict:
        return {"name": name, "stats": {"median": 1.0}, "extra_info": {"paired_seconds": paired} if paired else {}}

    # overhead pairs 1.10, 0.90, 1.05: median 1.05 (the ratio of medians would be 11.0 / 10.5 = 1.048)
    data = {"benchmarks": [bench("test_study_overhead", {"harness": [11.0, 9.0, 10.5], "plain": [10.0, 10.0, 10.0]}),
                           bench("test_epoch_throughput", {"harness": [2.5, 2.0], "plain": [2.0, 2.0]})]}
    rows = {row["ratio"].split(":")[0]: row for row in ratio_rows(data)}
    assert rows["harness overhead"]["value"] == pytest.approx(1.05) and rows["harness overhead"]["met"] == "yes"
    assert rows["harness overhead"]["spread"] == "[0.900, 1.100]" and rows["harness overhead"]["pairs"] == 3
    assert rows["training throughput"]["value"] == pytest.approx(0.9)  # plain / harness time: 0.8 and 1.0
    assert rows["training throughput"]["met"] == "NO"
    assert ratio_rows({"benchmarks": [bench("test_study_overhead")]}) == []  # nothing paired recorded: no row


def test_report_without_a_run_id_picks_the_run_that_finished_last_not_the_newest_file(results: Path) -> None:
    import shutil

    from fmnist_bench.reports.summary import resolve_run

    runs = results / "runs"
    for name, finished in (("older", "2026-11-20T10:00:00+00:00"), ("newer", "2026-11-26T10:00:00+00:00")):
        shutil.copytree(runs / "r1", runs / name)
        env = json.loads((runs / name / "env.json").read_text())
        atomic_write_json(runs / name / "env.json", "env", {k: v for k, v in env.items() if k not in ("schema", "kind")}
                          | {"finished_at": finished})
    for path in (runs / "older" / "config.json", runs / "r1" / "config.json"):  # a clone's mtimes say nothing
        os.utime(path, (2_000_000_000, 2_000_000_000))
    assert resolve_run(results, None) == runs / "newer"  # r1 has only started, on 2026-11-25


def test_a_leaderboard_names_its_own_results_folder_and_how_to_rebuild_it(results: Path) -> None:
    text = write_leaderboard(results).read_text()
    assert f"Every stored run under `{results / 'runs'}`" in text
    assert f"Rebuild with `python -m fmnist_bench leaderboard --results-dir {results}`." in text
    assert "(runs/r1/summary.md)" in text  # links stay relative to the file


@pytest.fixture(autouse=True)
def _six_replay_seeds_may_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests build replays of 6 seeds to exercise the verdict's wording; the seed-count rule
    (`MIN_REPLAY_SEEDS`) has a test of its own below, at its real value."""
    monkeypatch.setattr("fmnist_bench.reports.verdict.MIN_REPLAY_SEEDS", 2)


def _replayed_run(results: Path, per_seed: dict[str, list[tuple[int, dict[int, float]]]], name: str = "replayed",
                  table_seeds: tuple[int, ...] | None = None, builds: dict | None = None,
                  held_out: bool = True, workers: int = 1) -> list:
    """A replayed run over a 3-seed table (or over `table_seeds` of it alone, trained as `builds` say): per strategy
    and replay seed, its score (correct out of 100) and its final fit's test accuracy read from each table seed with
    that seed held out of the search (`held_out`: else as a replay stored before the held-out checks existed)."""
    from fmnist_bench.config import make_config

    seeds = max(map(len, per_seed.values()))
    cfg = make_config("standard", space="ann-grid", replay=True).replace(seeds=tuple(range(1, seeds + 1)),
                                                                         table_seeds=table_seeds, workers=workers)
    paths = RunPaths(results / "runs" / name)
    atomic_write_json(paths.config, "config", {"config": cfg.to_dict()})
    atomic_write_json(paths.env, "env", {"started_at": "2026-12-01T10:00:00+00:00",
                                         "table": {"seeds": list(table_seeds or (1, 2, 3)), "builds": builds or {}}})
    for strategy, studies in per_seed.items():
        for seed, (correct, by_table_seed) in enumerate(studies, start=1):
            _study(paths, strategy, seed, correct, [0.85, 0.86],
                   test_accuracy_by_table_seed={str(k): v for k, v in by_table_seed.items()},
                   held_out_test_accuracy={str(k): v for k, v in by_table_seed.items()} if held_out else {})
    return [load_run(paths.root)]


def test_a_replayed_difference_is_stated_only_if_every_training_run_agrees(tmp_path: Path) -> None:
    from fmnist_bench.reports import render_verdict

    random = [(c, {1: 0.80, 2: 0.80, 3: 0.80}) for c in (80, 81, 82, 80, 81, 82)]
    bayesian = [(c, {1: 0.80, 2: 0.80, 3: 0.80}) for c in (81, 80, 82, 81, 80, 82)]
    # hyperband 4-5 pp above random on every replay seed; with each training run held out: +1, +2, +3 pp
    hyperband = [(c, {1: 0.81, 2: 0.82, 3: 0.83}) for c in (85, 86, 86, 84, 86, 87)]
    line = render_verdict(_replayed_run(tmp_path / "a", {"random": random, "bayesian": bayesian,
                                                         "hyperband": hyperband}))
    assert ("hyperband beats random search by 4.67 pp (95% CI [+4.12, +5.21], 6 replay seeds; +1.00 to +3.00 pp "
            "with each training run held out)") in line
    assert "Replay seeds over 3 training runs per configuration; no table-noise interval" in line
    assert "Depends on" not in line
    # the same pooled difference, but training run 2 alone reverses it: not stated as a win
    hyperband = [(c, {1: 0.81, 2: 0.79, 3: 0.83}) for c in (85, 86, 86, 84, 86, 87)]
    line = render_verdict(_replayed_run(tmp_path / "b", {"random": random, "bayesian": bayesian,
                                                         "hyperband": hyperband}))
    assert "**no strategy is shown better" in line and "beats random" not in line
    assert ("**Depends on training noise:** hyperband vs random search +4.67 pp (95% CI [+4.12, +5.21], 6 replay "
            "seeds), but -1.00 to +3.00 pp with each training run held out") in line
    # stored before the held-out checks: its per-run final fits followed a search that read the same run, so they
    # are not a check and the line says it was not made
    line = render_verdict(_replayed_run(tmp_path / "c", {"random": random, "bayesian": bayesian,
                                                         "hyperband": hyperband}, held_out=False))
    assert "not checked with each training run held out (replayed before that check existed" in line
    assert ("**Not checked against training noise** (so not a claim): hyperband vs random search +4.67 pp (95% CI "
            "[+4.12, +5.21], 6 replay seeds)") in line and "beats" not in line


def test_the_verdict_on_each_backends_training_runs_follows_the_line_on_all_of_them(tmp_path: Path) -> None:
    from fmnist_bench.reports import render_verdict, verdict_sentence

    def built(backend: str, device: str, *seeds: int) -> dict:
        return {str(s): {"devices": [device], "backend": backend} for s in seeds}

    random = [(c, {1: 0.80, 2: 0.80, 3: 0.80, 4: 0.80}) for c in (80, 81, 82, 80, 81, 82)]
    ahead = [(c, {1: 0.82, 2: 0.83, 3: 0.82, 4: 0.81}) for c in (85, 86, 86, 84, 86, 87)]
    level = [(c, {1: 0.80, 2: 0.80, 3: 0.80, 4: 0.80}) for c in (81, 80, 82, 80, 82, 81)]
    runs = _replayed_run(tmp_path, {"random": random, "hyperband": ahead}, builds=built("jax", "gpu: H100", 1, 2)
                         | built("tensorflow", "cpu: EPYC", 3, 4))
    runs += _replayed_run(tmp_path, {"random": random, "hyperband": ahead}, "jax", table_seeds=(1, 2),
                          builds=built("jax", "gpu: H100 (jax)", 1, 2))
    runs += _replayed_run(tmp_path, {"random": random, "hyperband": level}, "tf", table_seeds=(3, 4),
                          builds=built("tensorflow", "cpu: EPYC", 3, 4))
    verdict = render_verdict(runs)
    lines = [line for line in verdict.splitlines() if line.startswith("- `ann-grid`")]
    # the replay on every training run pools the two backends' landscapes as seeds of one table: it states nothing
    # of its own (pooled, hyperband is 4.67 pp ahead on every replay seed and every held-out run)
    assert len(lines) == 1 and lines[0].startswith(
        "- `ann-grid`, 90 epochs per study, replayed from its table: **pools two tasks, no verdict:** its table's "
        "training runs were trained on JAX/GPU + TensorFlow/CPU, two landscapes")
    assert lines[0].count("beats random search") == 1
    assert verdict_sentence(runs[0]).startswith("**pools two tasks, no verdict:**")
    assert verdict_sentence(runs[1]).startswith("**hyperband beats random search by 4.67 pp")
    assert ("**On JAX/GPU training runs alone** (table seeds 1, 2): **hyperband beats random search by 4.67 pp"
            in lines[0])
    assert ("**On TensorFlow/CPU training runs alone** (table seeds 3, 4): **no strategy is shown better** at 6 "
            "replay seeds" in lines[0])
    assert "## `ann-grid`, 90 epochs per study, replayed from its table's seeds 3, 4 alone" in \
        render_leaderboard(runs, [])
    # without a replay on every training run, one backend's replay speaks on a line of its own
    alone = render_verdict(runs[2:])
    assert "- `ann-grid`, 90 epochs per study, replayed from its table's seeds 3, 4 alone: **no strategy" in alone


def test_a_replay_with_simulated_workers_is_a_benchmark_of_its_own(tmp_path: Path) -> None:
    """With N workers the question is another ("with N workers, which strategy?"): its line never replaces the
    serial replay's of the same budget and training runs, however many seeds each has or which is newer."""
    from fmnist_bench.reports import render_verdict
    from fmnist_bench.reports.leaderboard import verdict_sentence

    random = [(c, {1: 0.80, 2: 0.80, 3: 0.80}) for c in (80, 81, 82, 80, 81, 82)]
    ahead = [(c, {1: 0.82, 2: 0.83, 3: 0.82}) for c in (85, 86, 86, 84, 86, 87)]
    level = [(c, {1: 0.80, 2: 0.80, 3: 0.80}) for c in (81, 80, 82, 80, 82, 81)]
    runs = _replayed_run(tmp_path, {"random": random, "hyperband": ahead})
    runs += _replayed_run(tmp_path, {"random": random, "hyperband": level}, "sixteen", workers=16)
    lines = [line for line in render_verdict(runs).splitlines() if line.startswith("- `ann-grid`")]
    assert len(lines) == 2
    assert lines[0].startswith("- `ann-grid`, 90 epochs per study, replayed from its table: **hyperband beats")
    assert lines[1].startswith("- `ann-grid`, 90 epochs per study, 16 simulated workers, replayed from its table: "
                               "**no strategy is shown better")
    assert verdict_sentence(runs[1]).startswith("with 16 simulated workers: **no strategy")


def test_a_replay_on_fewer_seeds_than_the_rule_asks_states_no_difference(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The 20-seed replay of issue #44 printed a bold Holm-significant claim that its 100-seed run rejected: below
    `MIN_REPLAY_SEEDS`, a significant, checked difference is named, but not stated."""
    from fmnist_bench.config import DEFAULT_REPLAY_SEEDS
    from fmnist_bench.reports import render_verdict

    random = [(c, {1: 0.80, 2: 0.80, 3: 0.80}) for c in (80, 81, 82, 80, 81, 82)]
    ahead = [(c, {1: 0.82, 2: 0.83, 3: 0.82}) for c in (85, 86, 86, 84, 86, 87)]
    runs = _replayed_run(tmp_path, {"random": random, "hyperband": ahead})
    stated = render_verdict(runs)
    assert "**hyperband beats random search by 4.67 pp" in stated
    monkeypatch.setattr("fmnist_bench.reports.verdict.MIN_REPLAY_SEEDS", DEFAULT_REPLAY_SEEDS)  # the rule: 100
    line = next(x for x in render_verdict(runs).splitlines() if x.startswith("- `ann-grid`"))
    assert "beats" not in line and line.count("**") == 4
    assert "**no strategy is shown better** at 6 replay seeds" in line
    assert ("**Too few replay seeds for a claim** (a replay's verdict needs 100, `--seeds 100`, the default): "
            "hyperband vs random search +4.67 pp (95% CI [+4.12, +5.21], 6 replay seeds)") in line


def test_the_seed_rule_counts_block_claims_that_all_seeds_reject(tmp_path: Path) -> None:
    from fmnist_bench.reports.seed_blocks import block_claims

    flat = {1: 0.80, 2: 0.80, 3: 0.80}
    random = [(c, flat) for c in (80, 81, 82, 80, 81, 82)]
    # 4-6 points ahead on seeds 1-3, level on 4-6: the first block claims what the six seeds do not
    runs = _replayed_run(tmp_path, {"random": random, "hyperband": [(c, flat) for c in (85, 87, 86, 79, 82, 81)]})
    assert block_claims(runs, 3) == (1, 1)
    assert block_claims(runs, 6) == (0, 0)


def test_a_replay_without_seeds_replays_100(tmp_path: Path) -> None:
    from fmnist_bench.cli import build_parser, config_from_args

    args = build_parser().parse_args(["run", "--space", "ann-grid", "--replay"])
    assert config_from_args(args).seeds == tuple(range(1, 101))
    args = build_parser().parse_args(["run", "--space", "ann-grid"])
    assert config_from_args(args).seeds == (1,)


def test_two_strategies_identical_on_every_seed_are_one_comparison(tmp_path: Path) -> None:
    from fmnist_bench.reports import render_verdict

    same = [(c, {1: 0.80, 2: 0.81, 3: 0.80}) for c in (80, 81, 82, 80, 81, 82)]
    hyperband = [(c, {1: 0.82, 2: 0.83, 3: 0.82}) for c in (85, 86, 86, 84, 86, 87)]
    line = render_verdict(_replayed_run(tmp_path, {"random": same, "bayesian": same, "hyperband": hyperband}))
    assert "hyperband beats random search (and bayesian, identical to it on every seed) by 4.67 pp" in line
    assert "beats bayesian" not in line


def test_a_replayed_difference_must_also_hold_under_table_noise(tmp_path: Path) -> None:
    from fmnist_bench.reports import render_verdict
    from fmnist_bench.tabular.noise import FINAL_FITS

    random = [(c, {1: 0.80, 2: 0.80, 3: 0.80}) for c in (80, 81, 82, 80, 81, 82)]
    hyperband = [(c, {1: 0.81, 2: 0.82, 3: 0.83}) for c in (85, 86, 86, 84, 86, 87)]
    runs = _replayed_run(tmp_path, {"random": random, "bayesian": random, "hyperband": hyperband})
    noise = RunPaths(runs[0].root).table_noise

    def resamples(shifts: list[float], final_fits: str | None = FINAL_FITS) -> dict:
        """Per resample, hyperband = random + shift on every replay seed."""
        return {"resamples": len(shifts), "strategies": ["random", "hyperband"], "seeds": list(range(1, 7)),
                "table_seeds": [1, 2, 3], "final_fits": final_fits,
                "draws": [{"draw": k, "scores": {"random": [0.8] * 6, "hyperband": [0.8 + s] * 6}}
                          for k, s in enumerate(shifts, start=1)]}

    atomic_write_json(noise, "table-noise", resamples([0.02 + 0.0001 * k for k in range(40)]))
    line = render_verdict([load_run(runs[0].root)])
    assert "hyperband beats random search (and bayesian, identical to it on every seed) by 4.67 pp" in line
    # percentiles of the 40 resampled means, 2.00-2.39 pp
    assert "table-noise interval [+2.01, +2.38] over 40 resamples of the training runs and replay seeds)" in line
    assert "no table-noise interval for bayesian (not resampled)" in line
    # redrawn training runs reverse it on some resamples: depends on training noise
    atomic_write_json(noise, "table-noise", resamples([0.02 - 0.001 * k for k in range(40)]))
    line = render_verdict([load_run(runs[0].root)])
    assert "**no strategy is shown better** at 6 replay seeds" in line and "beats random" not in line.split("\n- ")[1]
    assert "**Depends on training noise:** hyperband vs random search (and bayesian, identical to it on every " in line
    # the single runs keep the sign and are said before "but"; the table-noise interval that holds 0 after it
    assert re.search(r"6 replay seeds\), \+1\.00 to \+3\.00 pp with each training run held out, but table-noise "
                     r"interval "
                     r"\[-1\.\d\d, \+1\.\d\d\] over 40 resamples", line), line
    # made before final fits avoided the chosen trial's run: not counted, and the line says so
    atomic_write_json(noise, "table-noise", resamples([0.02 + 0.0001 * k for k in range(40)], final_fits=None))
    line = render_verdict([load_run(runs[0].root)])
    assert "table-noise interval [+2.01" not in line and "one made before final fits avoided the chosen" in line


def test_one_seed_benchmarks_are_named_below_the_verdict_not_given_one(tmp_path: Path) -> None:
    from fmnist_bench.reports import render_verdict

    _benchmark_run(tmp_path, "one", {"random": (80,), "bayesian": (84,)}, "2026-11-20T10:00:00+00:00")
    verdict = render_verdict([load_run(tmp_path / "runs" / "one")])
    assert "\n- " not in verdict and "one seed, no verdict" not in verdict
    assert verdict.rstrip().endswith("has them): `ann r2`, 27 epochs, CPU, live.")


def test_ranks_over_the_budget_and_the_critical_difference_diagram(tmp_path: Path) -> None:
    """Hyperband's incumbent leads from its second epoch on every seed, Bayesian's trails throughout; final test
    accuracy ranks them the same way on every seed of 6."""
    from fmnist_bench.reports.ranks import anytime_ranks, shows_ranks

    cfg = CFG.replace(seeds=tuple(range(1, 7)))
    paths = RunPaths(tmp_path / "runs" / "ranked")
    atomic_write_json(paths.config, "config", {"config": cfg.to_dict()})
    atomic_write_json(paths.env, "env", {"started_at": "2026-12-01T10:00:00+00:00"})
    for seed in cfg.seeds:
        _study(paths, "random", seed, 85, [0.85, 0.86, 0.86])
        _study(paths, "hyperband", seed, 90, [0.85, 0.88, 0.89])
        _study(paths, "bayesian", seed, 80, [0.84, 0.85, 0.85])
    run = load_run(paths.root)
    assert shows_ranks(run)
    names, grid, ranks = anytime_ranks(run)
    hyperband, random, bayesian = names.index("hyperband"), names.index("random"), names.index("bayesian")
    assert list(ranks[:, hyperband, 0]) == [1.5] * 6 and list(ranks[:, bayesian, 0]) == [3.0] * 6  # epoch 1: a tie
    assert list(ranks[:, hyperband, 1]) == [1.0] * 6 and list(ranks[:, random, 1]) == [2.0] * 6
    summary = write_report(paths.root).read_text()
    assert "### Ranks" in summary and "mean ranks hyperband 1.00, random 2.00, bayesian 3.00" in summary
    assert "Nemenyi's test separates hyperband and bayesian" in summary
    for png in (paths.ranks, paths.critical_difference):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_critical_difference_diagram_is_the_same_bytes_in_every_process() -> None:
    """A diagram renders to the same bytes in every process: scikit-posthocs draws a crossbar's strategies in set
    order, which follows str hashes (PYTHONHASHSEED). This committed run's diagram joins all three strategies in one
    crossbar, whose drawing order then follows the set's. Under the matplotlib that drew the committed figure (its
    PNG names the version) it re-renders byte for byte; another matplotlib (3.10 on Python 3.10) draws other bytes."""
    import hashlib
    import subprocess
    import sys

    import matplotlib

    run = Path(__file__).resolve().parents[1] / "results" / "runs" / "standard-ann-grid-replay-65e4531d"
    code = ("import sys; from fmnist_bench.store import load_run; "
            "from pathlib import Path; from fmnist_bench.reports.ranks import render_critical_difference_png; "
            f"sys.stdout.buffer.write(render_critical_difference_png(load_run(Path({str(run)!r}))))")
    figures = {hashlib.sha256(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                                             env=os.environ | {"PYTHONHASHSEED": seed}).stdout).hexdigest()
               for seed in ("1", "3", "4")}
    assert len(figures) == 1
    committed = (run / "critical_difference.png").read_bytes()
    if f"Matplotlib version{matplotlib.__version__},".encode() not in committed:
        pytest.skip(f"matplotlib {matplotlib.__version__} did not draw the committed figure, so its bytes differ "
                    "(the diagrams above agreed across hash seeds)")
    assert figures == {hashlib.sha256(committed).hexdigest()}


def test_a_replayed_line_is_checked_against_the_same_protocol_trained_live() -> None:
    from fmnist_bench.reports import live_check

    def rows(seeds: int, preset: str = "quick", **differences: tuple[float, tuple[float, float]]) -> list[dict]:
        base = {"seeds": seeds, "preset": preset, "final_fit": "10 ep, patience 3"}
        return [base | {"strategy": "random", "vs_random": None}] + [
            base | {"strategy": name, "vs_random": (diff, ci, seeds)} for name, (diff, ci) in differences.items()]

    replayed = rows(100, tpe=(-0.0025, (-0.0042, -0.0009)), hyperband=(0.004, (0.0026, 0.0059)),
                    bayesian=(0.002, (0.001, 0.003)))
    live = rows(5, tpe=(0.0064, (-0.0021, 0.0150)), hyperband=(0.003, (-0.002, 0.008)),
                bayesian=(0.003, (0.001, 0.005)))
    line = live_check(replayed, live)
    assert "5 seeds" in line
    assert "tpe +0.64 pp [-0.21, +1.50] against the replay's -0.25 (**disagrees**: outside the live interval)" in line
    assert ("hyperband +0.30 pp [-0.20, +0.80] against the replay's +0.40 (agrees: inside the live interval, which "
            "also holds 0)") in line
    assert ("bayesian +0.30 pp [+0.10, +0.50] against the replay's +0.20 (confirms: inside the live interval, which "
            "excludes 0)") in line
    assert live_check(replayed, rows(5, preset="standard", tpe=(0.0, (-0.01, 0.01)))) == ""  # another protocol
    assert live_check(replayed, rows(1, tpe=(0.0, (float("nan"), float("nan"))))) == ""  # one seed: no check
    assert live_check(replayed, None) == ""


def test_the_committed_runs_hold_no_conflicting_seed_within_a_benchmark(committed_runs: list) -> None:
    """Runs of other benchmarks (another revision of a space, another device) or compatibility smoke runs of other
    stacks share seed numbers with different scores by design; only seeds pooled into one row may conflict."""
    from fmnist_bench.reports.leaderboard import seed_conflicts

    assert len(committed_runs) > 20 and seed_conflicts(committed_runs) == []


def test_strategies_identical_on_every_seed_are_called_so_not_given_a_detectable_difference_of_zero(
        tmp_path: Path) -> None:
    """A pair with no spread has no detectable difference to state, and when every seed ties Friedman's statistic
    is undefined (scipy divides by zero): the summary says both in words, and nothing warns."""
    import warnings

    def summary(name: str, correct: dict[str, tuple[int, ...]]) -> str:
        paths = RunPaths(tmp_path / "runs" / name)
        cfg = CFG.replace(preset="quick", seeds=(1, 2, 3, 4, 5))  # a benchmark of the leaderboard, not a smoke run
        atomic_write_json(paths.config, "config", {"config": cfg.to_dict()})
        atomic_write_json(paths.env, "env", {"started_at": "2026-12-06T20:00:00+00:00"})
        for strategy, per_seed in correct.items():
            for seed, c in enumerate(per_seed, start=1):
                _study(paths, strategy, seed, c, [0.85, 0.86])
        return render_summary(load_run(paths.root))

    same = (80, 81, 82, 80, 81)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tied = summary("tied", {"random": same, "bayesian": same, "hyperband": same})
        mixed = summary("mixed", {"random": same, "bayesian": same, "hyperband": (82, 80, 83, 84, 80)})
    for text in (tied, mixed):
        assert "| random - bayesian" in text and "identical on every seed" in text
        assert ">= 0.00 pp" not in text
    assert "every seed ties, so Friedman's test is undefined" in tied and "Friedman p nan" not in tied
    assert "Friedman p 0." in mixed and "not significant; 80% power only for >= " in mixed
    board = render_leaderboard([load_run(tmp_path / "runs" / "tied")], [])
    bayesian = next(line for line in board.splitlines() if line.startswith("| bayesian"))
    assert "| +0.00 [+0.00, +0.00] " in bayesian and "-0.00" not in bayesian  # no signed zero, no detectable 0.00
    assert "| 0.00 " not in bayesian
