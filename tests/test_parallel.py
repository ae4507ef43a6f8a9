"""Replays with simulated workers (`tabular.search`): the event order, determinism, budgets, worker records, resume,
the wall-clock anytime curve, and ASHA."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from fmnist_bench.engine.strategies import STOP_EPOCHS, STOP_SECONDS
from fmnist_bench.grids import grid_configs
from fmnist_bench.stats import anytime_curve
from fmnist_bench.store import TablePaths, load_run
from fmnist_bench.tabular.replay import load_replay_table, replay_study, run_replay
from fmnist_bench.tabular.search import search
from fmnist_bench.tabular.table import Curve, TableSpec, write_curves, write_spec
from test_replay import GRID, _cfg

pytestmark = pytest.mark.stack_independent  # see pyproject.toml: CI's Keras 2 env skips it


@pytest.fixture(scope="module", autouse=True)
def _as_a_replaying_process_searches():
    """The shortcuts a replaying process installs (`tabular.oracle_shortcuts`: same proposals, a Bayesian search in
    about a third of the time), for this module's searches only."""
    from fmnist_bench.tabular.oracle_shortcuts import oracle_shortcuts

    with oracle_shortcuts():
        yield

pytest.importorskip("optuna")

EPOCHS = 6
STRATEGIES = ("random", "hyperband", "bayesian", "tpe", "tpe-hyperband", "asha", "tpe-asha")


def _curve(params: dict, seed: int) -> Curve:
    """A rising curve whose level and epoch seconds depend on the configuration: wide nets are slow, so workers
    finish out of order."""
    index = grid_configs(GRID).index(params)
    val = 0.80 + 0.003 * index + 0.001 * seed - 0.05 * np.exp(-np.arange(1, EPOCHS + 1) / 2)
    confusion = np.tile(np.diag(np.full(10, 90)) + 1, (EPOCHS, 1, 1))
    seconds = np.full(EPOCHS, 0.1 + params["neurons"] / 64 + 0.01 * (index % 7))
    return Curve(params=params, seed=seed, loss=np.full(EPOCHS, 0.4), accuracy=val + 0.01, val_loss=1 - val,
                 val_accuracy=val, test_accuracy=val - 0.01, seconds=seconds, confusion=confusion,
                 setup_seconds=0.2)


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    folder = tmp_path / "tables" / "ann-grid"
    spec = TableSpec(space="ann-grid", space_revision=1, grid=GRID, split_seed=1, val_size=6000, batch_size=256,
                     epochs=EPOCHS)
    folder.mkdir(parents=True)
    write_spec(folder, spec)
    for seed in (1, 2):
        write_curves(TablePaths(folder).curves(seed), [_curve(c, seed) for c in spec.configs()])
    return tmp_path / "tables"


def _untimed(trials: list) -> list:
    """Trials without what this machine's clock measured (the oracle's compute, and times that include it)."""
    return [(t.number, t.params, t.score, t.epochs_target, t.initial_epoch, t.epochs_trained, t.worker, t.seconds)
            for t in trials]


def test_workers_take_trials_as_they_free_up_and_never_run_two_at_once(tables: Path) -> None:
    cfg = _cfg(budget_epochs=30)
    table = load_replay_table(cfg, tables)
    found = search(cfg, "random", 1, table, workers=3)
    trials = found.trials
    assert [t.worker for t in trials[:3]] == ["worker0", "worker1", "worker2"]  # at time 0, lower worker first
    for worker in {t.worker for t in trials}:
        mine = sorted((t for t in trials if t.worker == worker), key=lambda t: t.started)
        for before, after in zip(mine, mine[1:], strict=False):
            assert after.started >= before.ended  # one trial at a time per worker
    for trial in trials:  # at most three trials running at any trial's start
        running = [t for t in trials if t.started <= trial.started < t.ended]
        assert len(running) <= 3
        assert trial.ended - trial.started == pytest.approx(trial.seconds, abs=1e-3)
    # a trial is created when a worker frees up: in creation order, each starts no earlier than the one before
    starts = [t.started - t.oracle_seconds for t in trials]
    assert all(b >= a - 1e-3 for a, b in zip(starts, starts[1:], strict=False))
    assert found.seconds == pytest.approx(max(t.ended for t in trials), abs=1e-3)
    serial = search(cfg, "random", 1, table)
    assert [t.params for t in serial.trials] == [t.params for t in trials]  # random search ignores the order
    assert found.seconds < serial.seconds / 2
    assert all(t.worker is None and t.started is None for t in serial.trials)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_search_with_workers_is_a_function_of_its_seed_and_keeps_the_epoch_budget(tables: Path,
                                                                                      strategy: str) -> None:
    cfg = _cfg(budget_epochs=30)
    table = load_replay_table(cfg, tables)
    first, again = (search(cfg, strategy, 1, table, workers=4) for _ in range(2))
    assert _untimed(first.trials) == _untimed(again.trials)
    assert first.epochs == again.epochs
    planned = sum(t.epochs_planned for t in first.trials)
    # the budget counts a running trial's planned epochs; a pruner may stop it after the budget refused another
    unused = cfg.epochs_per_trial * (4 if strategy in ("tpe-hyperband", "asha", "tpe-asha") else 1)
    assert cfg.budget_epochs - unused < planned <= cfg.budget_epochs
    assert sum(t.epochs_trained for t in first.trials) == len(first.epochs)
    assert first.stop_reason == STOP_EPOCHS
    assert len({t.worker for t in first.trials}) == 4


def test_a_hyperband_promotion_starts_after_its_parent_ended_and_waiting_workers_ask_again(tables: Path) -> None:
    cfg = _cfg(budget_epochs=60)
    table = load_replay_table(cfg, tables)
    found = search(cfg, "hyperband", 1, table, workers=4)  # its grid runs out: IDLE while rungs complete
    by_id = {t.trial_id: t for t in found.trials}
    promotions = [t for t in found.trials if t.parent]
    assert promotions
    for trial in promotions:
        assert trial.started >= by_id[trial.parent].ended
    # a rung waits for its trials: some worker was told to wait while others ran, and asked again when one ended
    waited = False
    for worker in {t.worker for t in found.trials}:
        mine = sorted((t for t in found.trials if t.worker == worker), key=lambda t: t.started)
        for before, after in zip(mine, mine[1:], strict=False):
            gap = after.started - after.oracle_seconds - before.ended
            if gap > 0.05:
                waited = True
                assert any(o.ended == pytest.approx(after.started - after.oracle_seconds, abs=0.05)
                           for o in found.trials if o.worker != worker)
    assert waited


@pytest.mark.parametrize("budget_epochs, epochs_per_trial", [(9, 6), (30, 3)])
def test_the_first_hyperband_proposal_over_the_budget_ends_the_search_for_every_worker_and_leaves_no_trace(
        tables: Path, monkeypatch: pytest.MonkeyPatch, budget_epochs: int, epochs_per_trial: int) -> None:
    """Found on the ann-grid table with 4 workers: Hyperband enters a proposal in its rounds before the budget
    refuses it, and the next worker's request looked the never-created trial up (KeyError). Either guard alone
    hides the KeyError here, so each is checked on its own: no refused proposal stays in the rounds, and no trial is
    created after the first refusal (with 4 workers at (30, 3), a later, cheaper proposal would otherwise run)."""
    from fmnist_bench.engine import strategies

    refusals: list[tuple[int, list[str]]] = []  # (trials created so far, ids in the rounds that are no trial)
    spend = strategies._EpochBudget._spend

    def spying(oracle, reason: str) -> dict:
        rounds = [info["id"] for bracket in oracle._brackets for entries in bracket["rounds"] for info in entries]
        refusals.append((len(oracle.trials), [i for i in rounds if i not in oracle.trials]))
        return spend(oracle, reason)

    monkeypatch.setattr(strategies._EpochBudget, "_spend", spying)
    cfg = _cfg(budget_epochs=budget_epochs, epochs_per_trial=epochs_per_trial)
    table = load_replay_table(cfg, tables)
    for seed in (1, 2):
        refusals.clear()
        found = search(cfg, "hyperband", seed, table, workers=4)
        assert refusals, "the budget never refused a proposal: the test no longer covers the refusal"
        assert all(not phantoms for _, phantoms in refusals)
        assert len(found.trials) == refusals[0][0]
        assert sum(t.epochs_planned for t in found.trials) <= budget_epochs
        assert found.stop_reason == STOP_EPOCHS


def test_pruned_trials_with_workers_cost_the_epochs_they_trained(tables: Path) -> None:
    cfg = _cfg(budget_epochs=30)
    table = load_replay_table(cfg, tables)
    for strategy in ("asha", "tpe-hyperband"):
        found = search(cfg, strategy, 1, table, workers=3)
        pruned = [t for t in found.trials if t.reason.startswith("pruned")]
        assert pruned, strategy
        for trial in pruned:  # at its last epoch too, as live
            assert trial.epochs_trained == trial.epochs_planned <= cfg.epochs_per_trial
        assert any(trial.epochs_trained < cfg.epochs_per_trial for trial in pruned)


def test_asha_tries_random_searchs_configurations_in_its_order(tables: Path) -> None:
    cfg = _cfg(budget_epochs=30)
    table = load_replay_table(cfg, tables)
    asha, random_search = search(cfg, "asha", 1, table), search(cfg, "random", 1, table)
    shared = min(len(asha.trials), len(random_search.trials))
    assert [t.params for t in asha.trials[:shared]] == [t.params for t in random_search.trials[:shared]]
    assert len(asha.trials) > len(random_search.trials)  # stopped early, so more configurations for the budget


def test_a_time_budget_reads_the_simulated_wall_clock(tables: Path) -> None:
    cfg = _cfg(budget_epochs=300, budget_seconds=6.0)
    table = load_replay_table(cfg, tables)
    parallel = search(cfg, "random", 1, table, workers=3)
    assert parallel.stop_reason == STOP_SECONDS
    assert all(t.started - t.oracle_seconds < 6.0 for t in parallel.trials)  # no trial asked for after the budget
    assert len(parallel.trials) > len(search(cfg, "random", 1, table).trials)  # three workers do more by then


def test_jitter_changes_the_finishing_order_and_only_with_a_seed(tables: Path) -> None:
    cfg = _cfg(budget_epochs=30)
    table = load_replay_table(cfg, tables)
    plain = search(cfg, "random", 1, table, workers=3)
    jittered = [search(cfg, "random", 1, table, workers=3, jitter=0.3) for _ in range(2)]
    assert _untimed(jittered[0].trials) == _untimed(jittered[1].trials)
    assert [t.seconds for t in jittered[0].trials] != [t.seconds for t in plain.trials]


def test_a_replay_with_workers_is_another_run_records_its_workers_and_resumes(tables: Path, tmp_path: Path) -> None:
    serial = run_replay(_cfg(strategies=("random", "hyperband")), results_dir=tmp_path / "r", tables_dir=tables)
    cfg = _cfg(strategies=("random", "hyperband"), workers=2)
    first = run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tables)
    assert first.paths.root != serial.paths.root and not first.failed
    studies = load_run(first.paths.root).studies
    assert {st.result.workers for st in studies} == {2}
    assert all(t.worker in {"worker0", "worker1"} for st in studies for t in st.trials)
    archive = first.paths.studies_archive
    documents = gzip.decompress(archive.read_bytes()).decode().splitlines()
    first.paths.studies_partial.write_text("\n".join(documents[:2]) + "\n" + documents[2][:50])  # as a kill
    archive.unlink()
    run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tables)
    resumed = gzip.decompress(archive.read_bytes()).decode().splitlines()
    assert resumed[:2] == documents[:2]

    def untimed(line: str) -> list:
        study = json.loads(line)
        return [(t["number"], t["params"], t["score"], t["worker"]) for t in study["trials"]]

    assert [untimed(d) for d in resumed] == [untimed(d) for d in documents]


def test_the_anytime_curve_of_a_parallel_study_runs_on_its_wall_clock(tables: Path) -> None:
    cfg = _cfg(budget_epochs=30)
    table = load_replay_table(cfg, tables)
    _, trials, epochs = replay_study(cfg.replace(workers=3), "random", 1, table)
    curve = anytime_curve(epochs, trials)
    assert len(curve.epochs) == len(epochs)
    assert np.all(np.diff(curve.seconds) >= 0) and np.all(np.diff(curve.best) >= 0)
    assert curve.seconds[-1] == pytest.approx(max(t.ended for t in trials) - min(
        t.started - t.oracle_seconds for t in trials), abs=1e-3)
    _, serial_trials, serial_epochs = replay_study(cfg, "random", 1, table)
    serial = anytime_curve(serial_epochs, serial_trials)
    assert curve.seconds[-1] < serial.seconds[-1]
    assert curve.best[-1] == serial.best[-1]  # the same trials, read in another order


def test_the_speed_up_table_compares_each_strategy_with_its_one_worker_replay(tables: Path, tmp_path: Path) -> None:
    from fmnist_bench.errors import ResultsError
    from fmnist_bench.reports.speedup import speedup_rows

    cfg = _cfg(strategies=("random", "hyperband"))
    runs = [load_run(run_replay(cfg.replace(workers=w), results_dir=tmp_path, tables_dir=tables).paths.root)
            for w in (3, 1)]
    rows = speedup_rows(runs)
    assert [(r[0], r[1]) for r in rows] == [("random", 1), ("random", 3), ("hyperband", 1), ("hyperband", 3)]
    assert rows[0][4].startswith("1.00 ") and rows[0][6] == "-"
    assert float(rows[1][4].split()[0]) > 1.5  # three workers finish random search's same trials sooner
    assert rows[1][6] == "+0.00 [+0.00, +0.00]"  # the same trials, the same choice
    with pytest.raises(ResultsError, match="one worker"):
        speedup_rows(runs[:1])
    # the one-worker replays may split the strategies between runs (a time budget's are two runs here)
    split = [load_run(run_replay(cfg.replace(workers=1, strategies=(s,)), results_dir=tmp_path,
                                 tables_dir=tables).paths.root) for s in ("hyperband", "random")]
    assert sorted(speedup_rows([runs[0], *split])) == sorted(rows)
    with pytest.raises(ResultsError, match="hyperband of .* has no one-worker replay"):
        speedup_rows([runs[0], split[1]])


def test_the_analysis_tools_end_a_users_error_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    from fmnist_bench.reports import speedup
    from fmnist_bench.tabular import selection, worker_check

    assert speedup.main([str(tmp_path / "missing")]) == 2
    assert worker_check.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert selection.main([str(tmp_path / "no-table"), str(tmp_path / "chosen.json")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("fmnist-bench: error: ") for line in err)


def test_the_live_check_tables_compare_a_run_with_its_simulated_twin(tables: Path, tmp_path: Path) -> None:
    """`tabular.worker_check` on two replays standing in for the live run and its simulated twin: the same config
    gives no mechanical difference, jitter never changes random search's proposals, and the verdict
    table puts the simulated estimate inside the 'live' interval."""
    import dataclasses

    from fmnist_bench.tabular.worker_check import finish_inversion, mechanics_rows, order_rows, verdict_rows

    cfg = _cfg(strategies=("random", "hyperband"), seeds=(1, 2, 3, 4), workers=2, budget_epochs=30)
    run = load_run(run_replay(cfg, results_dir=tmp_path, tables_dir=tables).paths.root)
    mechanics = mechanics_rows(run, run)
    assert [row[0] for row in mechanics] == ["random", "hyperband"]
    assert all(row[3] == row[5] == "+0.00 [+0.00, +0.00]" for row in mechanics)
    order = {row[0]: row for row in order_rows(run, run, tables, jitter=0.3)}
    assert order["random"][1].startswith("0/4 ")  # random search proposes the same whatever finishes first
    (verdict,) = verdict_rows(run, run)
    assert verdict[0] == "hyperband" and verdict[3] == "yes"
    study = run.studies[0]
    ordered = [dataclasses.replace(t, ended=float(t.number)) for t in study.trials]
    assert not finish_inversion(dataclasses.replace(study, trials=ordered))
    swapped = [dataclasses.replace(t, ended=float(-t.number)) for t in study.trials]
    assert finish_inversion(dataclasses.replace(study, trials=swapped))
