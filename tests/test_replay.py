"""Replay bookkeeping on a small synthetic table: budgets, Hyperband promotions, failures, determinism, errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from fmnist_bench.cli import main
from fmnist_bench.config import RunConfig
from fmnist_bench.errors import TableError
from fmnist_bench.tabular.replay import load_replay_table, replay_study, run_replay
from fmnist_bench.store import load_run
from fmnist_bench.engine.strategies import STOP_EPOCHS, STOP_EXHAUSTED
from fmnist_bench.grids import grid_configs
from fmnist_bench.store import TablePaths
from fmnist_bench.tabular.table import Curve, TableSpec, load_table, write_curves, write_spec

pytestmark = pytest.mark.stack_independent  # see pyproject.toml: CI's Keras 2 env skips it

GRID = {"n_hidden_layers": [1, 2], "neurons": [32, 64, 128], "activation": ["relu", "tanh"],
        "learning_rate": [0.001, 0.01]}
DIVERGING = {"n_hidden_layers": 2, "neurons": 128, "activation": "tanh", "learning_rate": 0.01}
EPOCHS = 6


def _curve(params: dict, seed: int) -> Curve:
    """A rising validation curve whose level depends on the configuration (and a little on the seed)."""
    level = 0.80 + 0.003 * grid_configs(GRID).index(params) + 0.001 * seed  # no two configurations tie
    val = level - 0.05 * np.exp(-np.arange(1, EPOCHS + 1) / 2)
    loss = np.full(EPOCHS, 0.4)
    if params == DIVERGING:
        loss[2:] = np.nan
    confusion = np.tile(np.diag(np.full(10, 90)) + 1, (EPOCHS, 1, 1))
    return Curve(params=params, seed=seed, loss=loss, accuracy=val + 0.01, val_loss=1 - val, val_accuracy=val,
                 test_accuracy=val - 0.01, seconds=np.full(EPOCHS, 0.5), confusion=confusion, setup_seconds=0.25)


def _write_table(folder: Path, grid: dict = GRID, seeds: tuple[int, ...] = (1, 2), revision: int = 1) -> TableSpec:
    spec = TableSpec(space="ann-grid", space_revision=revision, grid=grid, split_seed=1, val_size=6000,
                     batch_size=256, epochs=EPOCHS)
    folder.mkdir(parents=True)
    write_spec(folder, spec)
    for seed in seeds:
        write_curves(TablePaths(folder).curves(seed), [_curve(c, seed) for c in spec.configs()])
    return spec


def _cfg(**changes) -> RunConfig:
    base = RunConfig(preset="standard", space="ann-grid", replay=True, seeds=(1, 2), epochs_per_trial=3,
                     budget_epochs=18, final_epochs=EPOCHS, patience=2)
    return base.replace(**changes)


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    _write_table(tmp_path / "tables" / "ann-grid")
    return tmp_path / "tables"


def test_every_strategy_spends_its_epoch_budget_and_no_more(tables: Path) -> None:
    cfg = _cfg()
    table = load_replay_table(cfg, tables)
    for strategy in cfg.strategies:
        result, trials, epochs = replay_study(cfg, strategy, 1, table)
        assert result.epochs_trained == sum(t.epochs_trained for t in trials) == len(epochs)
        assert result.epochs_planned <= cfg.budget_epochs
        assert result.epochs_trained >= cfg.budget_epochs - cfg.epochs_per_trial
        assert result.stop_reason == STOP_EPOCHS
        if strategy != "hyperband":
            assert result.trials == cfg.budget_epochs // cfg.epochs_per_trial


def test_a_trial_scores_its_best_epoch_and_costs_its_epochs_seconds(tables: Path) -> None:
    cfg = _cfg()
    table = load_replay_table(cfg, tables)
    _, trials, epochs = replay_study(cfg, "random", 1, table)
    for trial in trials:
        if trial.reason:
            continue
        mine = [e for e in epochs if e.trial_id == trial.trial_id]
        assert trial.score == pytest.approx(max(e.val_accuracy for e in mine), abs=1e-6)
        assert trial.seconds == pytest.approx(0.25 + 0.5 * trial.epochs_trained)
        assert trial.oracle_seconds is not None and trial.oracle_seconds >= 0


def test_hyperband_promotions_read_only_the_epochs_they_add_from_their_parents_seed(tables: Path) -> None:
    cfg = _cfg(budget_epochs=30)
    table = load_replay_table(cfg, tables)
    _, trials, epochs = replay_study(cfg, "hyperband", 2, table)
    by_id = {t.trial_id: t for t in trials}
    promoted = [t for t in trials if t.parent]
    assert promoted, "a 30-epoch budget with 3-epoch trials promotes some"
    for trial in promoted:
        parent = by_id[trial.parent]
        assert trial.params == parent.params and trial.initial_epoch == parent.epochs_target
        mine = [e for e in epochs if e.trial_id == trial.trial_id]
        assert [e.epoch for e in mine] == list(range(trial.initial_epoch + 1, trial.epochs_target + 1))
        parents_values = [e.val_accuracy for e in epochs if e.trial_id == parent.trial_id]
        seed = next(s for s in table.seeds  # the seed whose curve the parent read
                    if np.allclose(table.curve(parent.params, s).val_accuracy[:len(parents_values)], parents_values))
        expected = table.curve(trial.params, seed).val_accuracy[trial.initial_epoch:trial.epochs_target]
        assert np.allclose([e.val_accuracy for e in mine], expected)


def test_a_configuration_with_a_diverging_curve_fails_at_that_epoch(tables: Path) -> None:
    """A trial of the diverging configuration ends at its first non-finite loss, FAILED, and tells the oracle
    nothing; a sound trial tells it once the metrics of its best epoch (keras-tuner's rule)."""
    from fmnist_bench.tabular.search import search

    table = load_replay_table(_cfg(), tables)
    found = search(_cfg(budget_epochs=len(table.spec.configs()) * 3), "random", 1, table)
    failed = [t for t in found.trials if t.params == DIVERGING]
    assert failed, "the budget covers every configuration"
    for trial in failed:
        assert (trial.status.value, trial.score, trial.epochs_trained) == ("FAILED", None, 3)
        assert trial.reason == "diverged: training loss became nan in epoch 3"
        assert [e.epoch for e in found.epochs if e.trial_id == trial.trial_id] == [1, 2, 3]
    sound = next(t for t in found.trials if t.params != DIVERGING)
    assert sound.score in {float(max(table.curve(sound.params, s).val_accuracy[:3])) for s in table.seeds}


def test_replays_are_deterministic_and_independent_of_the_process_layout(tables: Path, tmp_path: Path) -> None:
    cfg = _cfg(seeds=(1,))  # three studies: the two processes of jobs=2 split them
    one = run_replay(cfg, results_dir=tmp_path / "a", tables_dir=tables, jobs=1)
    two = run_replay(cfg, results_dir=tmp_path / "b", tables_dir=tables, jobs=2)

    def fingerprint(root: Path) -> list:
        return [(st.result.name, st.result.best_params, st.result.test.accuracy,
                 [(t.params, t.score, t.epochs_target, t.initial_epoch, t.seconds) for t in st.trials])
                for st in load_run(root).studies]

    assert not one.failed and not two.failed
    assert fingerprint(one.paths.root) == fingerprint(two.paths.root)
    assert len(load_run(one.paths.root).studies) == 3


def test_a_killed_replay_resumes_from_the_studies_it_finished(tables: Path, tmp_path: Path) -> None:
    cfg = _cfg(strategies=("random", "hyperband"))
    first = run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tables)
    archive = first.paths.studies_archive
    documents = gzip.decompress(archive.read_bytes()).decode().splitlines()
    # as a kill leaves it: some studies appended, the last one cut off mid-line, no archive yet
    first.paths.studies_partial.write_text("\n".join(documents[:2]) + "\n" + documents[2][:50])
    archive.unlink()
    again = run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tables)
    resumed = gzip.decompress(archive.read_bytes()).decode().splitlines()
    assert [_untimed(d) for d in resumed] == [_untimed(d) for d in documents]
    assert resumed[:2] == documents[:2]  # the finished studies were kept, not replayed again
    assert not again.paths.studies_partial.exists()


def _untimed(line: str) -> dict:
    """A stored study without what this machine's clock measured (the oracle's compute, and sums of it)."""
    study = json.loads(line)
    study["result"].pop("search_seconds")
    for trial in study["trials"]:
        trial.pop("oracle_seconds")
    return study


def test_an_oracle_that_runs_out_of_configurations_is_recorded(tmp_path: Path) -> None:
    small = {"n_hidden_layers": [1], "neurons": [32, 64], "activation": ["relu"], "learning_rate": [0.001]}
    _write_table(tmp_path / "tables" / "ann-grid", grid=small)
    cfg = _cfg(budget_epochs=30)
    result, trials, _ = replay_study(cfg, "random", 1, load_replay_table(cfg, tmp_path / "tables"))
    assert result.stop_reason == STOP_EXHAUSTED
    assert result.trials == 2 == result.unique_configs
    assert result.epochs_trained < cfg.budget_epochs


def test_a_time_budget_stops_on_the_tables_seconds(tables: Path) -> None:
    cfg = _cfg(budget_epochs=300, budget_seconds=5.0)
    result, trials, _ = replay_study(cfg, "random", 1, load_replay_table(cfg, tables))
    spent_before_last = sum(t.cost_seconds for t in trials[:-1])
    assert spent_before_last < 5.0 <= result.search_seconds
    assert result.stop_reason == "time budget spent"


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_replay_without_a_table_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, ["-q", "run", "--space", "ann-grid", "--replay", "--tables-dir", str(tmp_path / "none"),
                           "--results-dir", str(tmp_path / "results")])
    assert "no table at" in line and "table build" in line


def test_replay_of_a_space_without_a_grid_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, ["-q", "run", "--replay", "--results-dir", str(tmp_path)])
    assert "needs a grid space" in line


def test_a_table_of_another_grid_revision_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_table(tmp_path / "tables" / "ann-grid", revision=99)
    line = _error(capsys, ["-q", "run", "--space", "ann-grid", "--replay", "--tables-dir", str(tmp_path / "tables"),
                           "--results-dir", str(tmp_path / "results")])
    assert "revision 99" in line and "rebuild" in line


def test_a_table_missing_a_configuration_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "tables" / "ann-grid"
    spec = _write_table(folder, seeds=())
    write_curves(TablePaths(folder).curves(1), [_curve(c, 1) for c in spec.configs()[1:]])
    line = _error(capsys, ["-q", "run", "--space", "ann-grid", "--replay", "--tables-dir", str(tmp_path / "tables"),
                           "--results-dir", str(tmp_path / "results"), "--epochs-per-trial", "3",
                           "--final-epochs", str(EPOCHS)])
    assert "no seed covering the whole grid" in line
    table = load_table(folder)
    with pytest.raises(TableError, match="has no curve for"):
        table.curve(spec.configs()[0], 1)


def test_a_replayed_run_is_reported_with_its_regret(tables: Path, tmp_path: Path) -> None:
    from fmnist_bench.reports import write_report

    cfg = _cfg(seeds=(1, 2, 3), strategies=("random", "hyperband"))
    outcome = run_replay(cfg, results_dir=tmp_path, tables_dir=tables)
    summary = write_report(outcome.paths.root).read_text()
    assert "**Replayed** from the tabular benchmark" in summary
    assert "### Simple regret" in summary and (outcome.paths.root / "curves_regret.png").is_file()
    best = max((c for c in grid_configs(GRID) if c != DIVERGING), key=lambda c: _curve(c, 1).val_accuracy[2])
    assert f"The grid's best: {', '.join(f'{k}={v}' for k, v in sorted(best.items()))}" in summary
    assert not (outcome.paths.root / "studies").exists()  # no per-study folders or confusion matrices
    assert json.loads((outcome.paths.root / "config.json").read_text())["config"]["replay"] is True


def test_the_replay_declares_the_live_space_in_the_live_order() -> None:
    """The oracles draw random values in declaration order: the same order is what makes a seed propose the same
    configurations live and replayed (the slow test in test_table.py checks the proposals themselves)."""
    import keras_tuner as kt

    from fmnist_bench.tabular.search import grid_hyperparameters
    from fmnist_bench.engine.spaces import AnnGridSpace

    live = kt.HyperParameters()
    AnnGridSpace().build(live)
    table = load_table(Path(__file__).resolve().parents[1] / "results" / "tables" / "ann-grid")
    replayed = grid_hyperparameters(table)
    assert [(h.name, list(h.values)) for h in replayed.space] == [(h.name, list(h.values)) for h in live.space]


def test_final_fits_read_every_table_seed_but_the_chosen_trials_own(tmp_path: Path) -> None:
    """A live final fit starts from a fresh initialisation: replayed, it never reads the training run its trial was
    scored on; the study is scored by the mean over the other seeds' fits (each under the early-stopping rule)."""
    _write_table(tmp_path / "ann-grid", seeds=(1, 2, 3))
    table = load_replay_table(_cfg(), tmp_path)
    # the rule does not look at the strategy: Bayesian optimisation's replays (the slow ones) add nothing here
    cfg = _cfg(seeds=tuple(range(1, 7)), strategies=("random", "hyperband"))
    for strategy, seed in cfg.cells:
        result, _, _ = replay_study(cfg, strategy, seed, table)
        assert result.chosen_table_seed in (1, 2, 3)
        assert result.refit_table_seeds == [s for s in (1, 2, 3) if s != result.chosen_table_seed]
        expected = []
        for table_seed in result.refit_table_seeds:
            curve = table.curve(result.best_params, table_seed)
            best = int(np.argmax(curve.val_accuracy[:cfg.final_epochs]))  # rising curves: no early stop
            expected.append(float(np.trace(curve.confusion[best]) / curve.confusion[best].sum()))
        assert result.refit_test_accuracies == pytest.approx(expected)
        assert result.mean_test_accuracy == pytest.approx(np.mean(expected))


def test_each_training_run_is_held_out_of_a_search_and_its_final_fit_read_from_it(tmp_path: Path) -> None:
    """The per-run check is leave-one-run-out: for each run h, the same study searched on the other runs alone (so
    it never read h), its choice's final fit read from h."""
    from fmnist_bench.tabular.replay import held_out_scores

    _write_table(tmp_path / "ann-grid", seeds=(1, 2, 3))
    table = load_replay_table(_cfg(), tmp_path)
    cfg = _cfg(seeds=(1, 2, 3), strategies=("random", "hyperband"))
    for strategy, seed in cfg.cells:
        result, _, _ = replay_study(cfg, strategy, seed, table)
        assert sorted(result.held_out_test_accuracy) == ["1", "2", "3"]
        for held_out in (1, 2, 3):
            others = table.only(tuple(s for s in (1, 2, 3) if s != held_out))
            searched, trials, _ = replay_study(cfg, strategy, seed, others, held_out=False)
            assert held_out not in {searched.chosen_table_seed, *searched.refit_table_seeds}
            curve = table.curve(searched.best_params, held_out)
            best = int(np.argmax(curve.val_accuracy[:cfg.final_epochs]))
            assert result.held_out_test_accuracy[str(held_out)] == pytest.approx(
                float(np.trace(curve.confusion[best]) / curve.confusion[best].sum()))
    assert held_out_scores(cfg, "random", 1, table.only((2,))) == {}  # one run: nothing to hold out


def test_a_bootstrap_tables_final_fits_never_read_the_chosen_trials_own_run(tmp_path: Path) -> None:
    """A resample may hold one training run under several pseudo-seeds. Here every pseudo-seed of every
    configuration is run 1: the search reads run 1, so its final fits must read runs 2 and 3 of the original table,
    not 'another' pseudo-seed that is run 1 again."""
    from fmnist_bench.tabular import Table

    _write_table(tmp_path / "ann-grid", seeds=(1, 2, 3))
    table = load_replay_table(_cfg(), tmp_path)
    only_run_1 = Table(table.folder, table.spec, {j: dict(table.curves[1]) for j in (1, 2, 3)}, {})
    cfg = _cfg(seeds=(1, 2), strategies=("random",))
    result = replay_study(cfg, "random", 1, only_run_1, final_table=table, held_out=False)[0]
    assert result.refit_table_seeds == [2, 3]
    expected = []
    for run in (2, 3):
        curve = table.curve(result.best_params, run)
        best = int(np.argmax(curve.val_accuracy[:cfg.final_epochs]))
        expected.append(float(np.trace(curve.confusion[best]) / curve.confusion[best].sum()))
    assert result.refit_test_accuracies == pytest.approx(expected)


def test_a_replay_stored_before_the_held_out_checks_is_replayed_again_with_them(tables: Path, tmp_path: Path,
                                                                                caplog: pytest.LogCaptureFixture
                                                                                ) -> None:
    cfg = _cfg(strategies=("random",))
    first = run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tables)
    archive = first.paths.studies_archive
    old = [json.loads(line) for line in gzip.decompress(archive.read_bytes()).decode().splitlines()]
    for study in old:  # as a replay stored before the checks existed
        del study["result"]["held_out_test_accuracy"]
    archive.write_bytes(gzip.compress("".join(json.dumps(s) + "\n" for s in old).encode()))
    again = run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tables)
    assert "2 stored studies lack the checks with each training run held out" in caplog.text
    assert [r.held_out_test_accuracy for r in again.results] == [r.held_out_test_accuracy for r in first.results]
    for new, old_result in zip(again.results, first.results, strict=True):
        differing = {k for k, v in new.to_dict().items() if old_result.to_dict()[k] != v}
        assert differing <= {"search_seconds"}, differing  # it counts the oracle's measured compute


def test_drawn_refits_could_read_the_chosen_trials_own_seed(tables: Path) -> None:
    """The rule of the replays stored before 2026-12-01, kept for them: a drawn refit often reads the very run."""
    cfg = _cfg(refit_seeds="drawn", seeds=tuple(range(1, 11)), strategies=("random", "hyperband"))  # as above
    table = load_replay_table(cfg, tables)
    results = [replay_study(cfg, strategy, seed, table)[0] for strategy, seed in cfg.cells]
    assert all(len(r.refit_table_seeds) == 1 for r in results)
    assert any(r.refit_table_seeds == [r.chosen_table_seed] for r in results)
    assert any(r.refit_table_seeds != [r.chosen_table_seed] for r in results)


def test_independent_final_fits_need_two_table_seeds(tmp_path: Path) -> None:
    _write_table(tmp_path / "ann-grid", seeds=(1,))
    with pytest.raises(TableError, match="one whole-grid seed; final fits on the seeds the chosen trial did not read"):
        load_replay_table(_cfg(), tmp_path)
    assert load_replay_table(_cfg(refit_seeds="drawn"), tmp_path).seeds == [1]


def test_refits_and_the_refit_rule_are_one_or_the_other() -> None:
    from fmnist_bench.errors import ConfigError

    with pytest.raises(ConfigError, match="refits 3 does not apply; use --refit-seeds drawn"):
        _cfg(refits=3)
    assert _cfg(refits=3, refit_seeds="drawn").refits == 3


def test_replays_stored_before_the_rule_keep_their_id_and_their_rule(tmp_path: Path) -> None:
    from fmnist_bench.store import RunPaths, read_config

    legacy = {k: v for k, v in _cfg(refit_seeds="drawn").to_dict().items()}
    assert "refit_seeds" not in legacy  # as every replay stored before the rule
    paths = RunPaths.in_results(tmp_path, "old")
    paths.root.mkdir(parents=True)
    paths.config.write_text(json.dumps({"schema": 1, "kind": "config", "config": legacy}))
    stored = read_config(paths)
    assert stored.refit_seeds == "drawn" and stored.digest() == _cfg(refit_seeds="drawn").digest()
    assert _cfg().digest() != stored.digest()  # a replay under the new rule is another run
    live = RunConfig(preset="standard")
    assert "refit_seeds" not in live.to_dict()  # live runs keep their ids


def test_a_resampled_table_redraws_each_configurations_training_runs(tmp_path: Path) -> None:
    from fmnist_bench.tabular.noise import resampled_table
    from fmnist_bench.tabular import config_key

    _write_table(tmp_path / "ann-grid", seeds=(1, 2, 3))
    table = load_replay_table(_cfg(), tmp_path)
    first, again, other = resampled_table(table, 1), resampled_table(table, 1), resampled_table(table, 2)
    assert first.seeds == [1, 2, 3]  # k pseudo-seeds, each covering the whole grid
    picks = {key: [next(s for s in (1, 2, 3) if table.curves[s][key] is first.curves[j][key]) for j in (1, 2, 3)]
             for key in map(config_key, table.spec.configs())}
    assert any(len(set(p)) < 3 for p in picks.values())  # drawn with replacement, per configuration
    assert len({tuple(p) for p in picks.values()}) > 1
    assert all(first.curves[j][k] is again.curves[j][k] for j in (1, 2, 3) for k in picks)  # fixed by the draw
    assert any(first.curves[j][k] is not other.curves[j][k] for j in (1, 2, 3) for k in picks)


def test_table_noise_replays_the_run_on_resampled_tables_and_resumes(tmp_path: Path) -> None:
    from fmnist_bench.tabular import run_table_noise

    _write_table(tmp_path / "tables" / "ann-grid", seeds=(1, 2, 3))
    cfg = _cfg(strategies=("random", "hyperband"), seeds=(1, 2, 3))
    outcome = run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tmp_path / "tables", jobs=2)
    run_table_noise(cfg, results_dir=tmp_path / "r", tables_dir=tmp_path / "tables", resamples=4,
                    strategies=("random", "hyperband"), jobs=2)
    document = json.loads(outcome.paths.table_noise.read_text())
    assert [d["draw"] for d in document["draws"]] == [1, 2, 3, 4] and document["seeds"] == [1, 2, 3]
    assert all(len(d["scores"]["random"]) == 3 and len(d["scores"]["hyperband"]) == 3 for d in document["draws"])
    assert load_run(outcome.paths.root).table_noise == document
    # a kill after two resamples: the same command replays only the other two, and gets the same numbers
    from fmnist_bench.store import write_lines

    write_lines(outcome.paths.table_noise_partial, document["draws"][:2])
    outcome.paths.table_noise.unlink()
    run_table_noise(cfg, results_dir=tmp_path / "r", tables_dir=tmp_path / "tables", resamples=4,
                    strategies=("random", "hyperband"))
    assert json.loads(outcome.paths.table_noise.read_text()) == document
    assert not outcome.paths.table_noise_partial.exists()


@pytest.mark.parametrize("argv, words", [
    (["run", "--table-noise", "5"], "resamples a replay's table (with --replay)"),
    (["run", "--space", "ann-grid", "--replay", "--table-noise-strategies", "bayesian"], "goes with it"),
    (["run", "--space", "ann-grid", "--replay", "--strategies", "random", "--table-noise", "5",
      "--table-noise-strategies", "hyperband"], "must be strategies of the run (random)"),
])
def test_table_noise_options_are_checked_in_one_line(argv: list[str], words: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_a_one_job_replay_from_the_command_line_runs_in_a_child(tables: Path, tmp_path: Path) -> None:
    """As every other study: the CLI's process never imports keras-tuner nor sets scikit-learn's configuration
    (ARCHITECTURE.md), and the records equal the in-process replay's."""
    import subprocess
    import sys

    script = ("import sys; from fmnist_bench.cli import main\n"
              "code = main(sys.argv[1:])\n"
              "print(code, sorted(m for m in ('keras_tuner', 'tensorflow', 'sklearn') if m in sys.modules))\n")
    argv = ["-q", "run", "--space", "ann-grid", "--replay", "--strategies", "random,hyperband", "--seeds", "2",
            "--epochs-per-trial", "3", "--budget-epochs", "18", "--final-epochs", str(EPOCHS), "--jobs", "1",
            "--tables-dir", str(tables), "--results-dir", str(tmp_path / "cli")]
    proc = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stderr[-2000:]
    (run,) = (tmp_path / "cli" / "runs").iterdir()
    cfg = load_run(run).config
    here = run_replay(cfg, results_dir=tmp_path / "here", tables_dir=tables)
    assert [_untimed(d) for d in gzip.decompress((run / "studies.jsonl.gz").read_bytes()).decode().splitlines()] \
        == [_untimed(d) for d in gzip.decompress(here.paths.studies_archive.read_bytes()).decode().splitlines()]


def test_a_dry_run_of_a_replay_counts_the_studies_its_archive_holds(tables: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Replayed studies live in one archive, not in study folders: a dry run counts them as the replay would."""
    cfg = _cfg(strategies=("random", "hyperband"), patience=3)  # the command line's patience
    run_replay(cfg, results_dir=tmp_path, tables_dir=tables)
    argv = ["run", "--space", "ann-grid", "--replay", "--strategies", "random,hyperband", "--epochs-per-trial", "3",
            "--budget-epochs", "18", "--final-epochs", str(EPOCHS), "--tables-dir", str(tables), "--results-dir",
            str(tmp_path), "--dry-run"]
    capsys.readouterr()
    assert main([*argv, "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert cfg.run_id in out and "4 complete, 0 to run" in out and "nothing to run" in out


def test_a_replay_on_some_training_runs_reads_those_alone_and_is_another_run(tmp_path: Path) -> None:
    """The verdict on one backend's training runs: trials, final fits and the record read only the seeds asked for."""
    _write_table(tmp_path / "tables" / "ann-grid", seeds=(1, 2, 3))
    cfg = _cfg(seeds=tuple(range(1, 7)), strategies=("random", "hyperband"), table_seeds=(2, 3))
    outcome = run_replay(cfg, results_dir=tmp_path / "results", tables_dir=tmp_path / "tables")
    for result in outcome.results:
        assert result.chosen_table_seed in (2, 3)
        assert result.refit_table_seeds == [5 - result.chosen_table_seed]  # the other one of 2 and 3
        assert sorted(result.test_accuracy_by_table_seed) == ["2", "3"]
    assert {r.chosen_table_seed for r in outcome.results} == {2, 3}
    env = json.loads(outcome.paths.env.read_text())
    assert env["table"]["seeds"] == [2, 3] and sorted(env["table"]["builds"]) == ["2", "3"]
    assert cfg.digest() != cfg.replace(table_seeds=None).digest()
    assert "table_seeds" not in cfg.replace(table_seeds=None).to_dict()  # replays on every run keep their ids


@pytest.mark.parametrize("argv, words", [
    (["--replay", "--table-seeds", "2,4"], "has no whole-grid seed 4; its whole-grid seeds are 1, 2"),
    (["--table-seeds", "1,2"], "table_seeds chooses the training runs a replay reads; it needs --replay"),
    (["--replay", "--table-seeds", "0"], "table seeds are integers >= 1, e.g. 5,6,7; found '0'"),
    (["--replay", "--table-seeds", "2"], "--table-seeds 2 is one training run; final fits on the seeds the chosen"),
])
def test_table_seeds_that_a_replay_cannot_read_are_one_line(argv: list[str], words: str, tables: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    error = _error(capsys, ["run", "--space", "ann-grid", "--tables-dir", str(tables), "--results-dir",
                            str(tmp_path / "results"), "--epochs-per-trial", "3", "--final-epochs", str(EPOCHS), *argv])
    assert words in error


def test_a_finished_replays_regret_reference_stays_on_the_training_runs_it_read(tmp_path: Path) -> None:
    """A table that gains a seed after a replay must not change that replay's report (its committed summary)."""
    from fmnist_bench.reports import write_report

    spec = _write_table(tmp_path / "tables" / "ann-grid", seeds=(1, 2))
    cfg = _cfg(seeds=(1, 2), strategies=("random", "hyperband"))
    outcome = run_replay(cfg, results_dir=tmp_path, tables_dir=tmp_path / "tables")
    before = write_report(outcome.paths.root).read_text()
    write_curves(TablePaths(tmp_path / "tables" / "ann-grid").curves(3), [_curve(c, 30) for c in spec.configs()])
    assert load_table(tmp_path / "tables" / "ann-grid").seeds == [1, 2, 3]
    assert write_report(outcome.paths.root).read_text() == before


def test_a_replay_run_again_on_a_table_with_another_seed_reads_the_table_as_it_is_and_keeps_the_earlier(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The same command after a training seed lands: every study is replayed on the table as it is now, under the
    same run id (none mixes two tables' studies or table noise), and what the earlier table gave stays beside it."""
    import dataclasses
    import logging

    from fmnist_bench.tabular import run_table_noise
    from fmnist_bench.tabular.replay import table_seeds_read

    tables = tmp_path / "tables"
    spec = _write_table(tables / "ann-grid", seeds=(1, 2))
    cfg = _cfg(strategies=("random", "hyperband"))
    first = run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tables)
    started = json.loads(first.paths.env.read_text())["started_at"]
    run_table_noise(cfg, results_dir=tmp_path / "r", tables_dir=tables, resamples=2, strategies=("random",))
    earlier = {path.name: path.read_bytes() for path in (first.paths.studies_archive, first.paths.table_noise)}
    write_curves(TablePaths(tables / "ann-grid").curves(3), [_curve(c, 3) for c in spec.configs()])
    with caplog.at_level(logging.WARNING):
        again = run_replay(cfg, results_dir=tmp_path / "r", tables_dir=tables)
    assert "4 stored studies were replayed on table seeds 1,2, and the table's whole-grid seeds are now 1,2,3" \
        in caplog.text
    assert again.paths.root == first.paths.root
    assert [table_seeds_read(r) for r in again.results] == [[1, 2, 3]] * 4
    env = json.loads(again.paths.env.read_text())  # the run started again, and says when it first did
    assert env["earlier_started_at"] == started and env["started_at"] >= started
    fresh = run_replay(cfg, results_dir=tmp_path / "fresh", tables_dir=tables)
    assert [_untimed(d) for d in gzip.decompress(again.paths.studies_archive.read_bytes()).decode().splitlines()] == \
        [_untimed(d) for d in gzip.decompress(fresh.paths.studies_archive.read_bytes()).decode().splitlines()]
    assert {name: (again.paths.root / f"{name}.table-seeds-1-2").read_bytes() for name in earlier} == earlier
    assert not again.paths.table_noise.exists()  # resampled again on the new table, not read from the old one
    noise = run_table_noise(cfg, results_dir=tmp_path / "r", tables_dir=tables, resamples=2, strategies=("random",))
    assert noise["table_seeds"] == [1, 2, 3]
    # a record from before per-seed final fits names its seeds only in its device
    assert table_seeds_read(dataclasses.replace(again.results[0], test_accuracy_by_table_seed={})) == [1, 2, 3]


def test_the_oracle_shortcuts_change_no_bayesian_proposal_and_pass_other_inputs_to_scikit_learn(tables: Path) -> None:
    from sklearn.gaussian_process import GaussianProcessRegressor, _gpr

    from fmnist_bench.tabular.oracle_shortcuts import oracle_shortcuts

    cfg = _cfg(budget_epochs=15)
    table = load_replay_table(cfg, tables)
    calls = []
    before = _gpr.validate_data
    validate = getattr(before, "__wrapped__", before)  # unwrapped, where a replay in this process installed them
    _gpr.validate_data = lambda *args, **kwargs: calls.append(1) or validate(*args, **kwargs)
    try:
        plain = replay_study(cfg, "bayesian", 3, table, held_out=False)[1]
        checked_calls = len(calls)
        with oracle_shortcuts():
            shortcut = replay_study(cfg, "bayesian", 3, table, held_out=False)[1]
            fitted = GaussianProcessRegressor().fit(np.eye(3), np.arange(3.0))
            with pytest.raises(ValueError, match="features"):  # not a plain query of the fitted width: checked
                fitted.predict(np.ones((1, 2)))
    finally:
        _gpr.validate_data = before
    assert [(t.params, t.score) for t in shortcut] == [(t.params, t.score) for t in plain]
    assert len(plain) == 5  # 3 random, then 2 proposed by the Gaussian process
    assert checked_calls > 100 and len(calls) - checked_calls < checked_calls / 10  # the queries skipped validation
