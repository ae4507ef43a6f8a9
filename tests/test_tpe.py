"""Optuna's TPE as a keras-tuner oracle: the space it sees, pairing, determinism, exact resume, pruning accounting,
the one-line errors without the extra; live, a killed and resumed pruned study gives the records of an unbroken one."""

from __future__ import annotations

import importlib.metadata
import signal
import subprocess
import sys
from pathlib import Path

import keras_tuner as kt
import numpy as np
import pytest

from conftest import HANG_GUARD_SECONDS, rows_without_timing, with_fault
from fmnist_bench.cli import main
from fmnist_bench.config import OPTUNA_STRATEGIES, PRESETS, require_optuna
from fmnist_bench.engine.strategies import STRATEGIES
from fmnist_bench.engine.tpe import EPOCH_REPORT, search_space
from fmnist_bench.errors import ConfigError
from fmnist_bench.records import pruned_reason
from fmnist_bench.store import RunPaths
from fmnist_bench.tabular.replay import load_replay_table, replay_study
from test_replay import _cfg, _write_table


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    _write_table(tmp_path / "tables" / "ann-grid")
    return tmp_path / "tables"


def test_the_search_space_reaches_optuna_with_keras_tuners_order_and_types() -> None:
    import optuna.distributions as d

    hp = kt.HyperParameters()
    hp.Choice("neurons", [32, 64, 128])
    hp.Choice("activation", ["relu", "tanh"])
    hp.Int("layers", 32, 1024, step=32)
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    hp.Boolean("flip")
    hp.Fixed("kernel", 3)
    space = search_space(hp)
    assert list(space) == ["neurons", "activation", "layers", "learning_rate", "flip"]  # declaration order
    assert space["neurons"][1] == d.IntDistribution(0, 2)  # an ordered choice: TPE models the order, by index
    assert space["activation"][1] == d.CategoricalDistribution(["relu", "tanh"])
    assert space["layers"][1] == d.IntDistribution(32, 1024, step=32)
    assert space["learning_rate"][1] == d.FloatDistribution(1e-4, 1e-2, log=True)
    assert space["flip"][1] == d.CategoricalDistribution([False, True])


def test_a_range_optuna_cannot_express_is_one_line() -> None:
    hp = kt.HyperParameters()
    hp.Int("units", 2, 64, step=2, sampling="log")
    with pytest.raises(ConfigError, match="'units' .* no Optuna distribution"):
        search_space(hp)


@pytest.mark.parametrize("strategy", OPTUNA_STRATEGIES)
def test_tpe_opens_with_random_searchs_configurations_and_replays_deterministically(strategy: str,
                                                                                   tables: Path) -> None:
    cfg = _cfg(budget_epochs=36)  # 12 trials of 3 epochs: 4 random start-up trials, then TPE
    table = load_replay_table(cfg, tables)
    _, random_trials, _ = replay_study(cfg, "random", 1, table)
    result, trials, epochs = replay_study(cfg, strategy, 1, table)
    startup = max(3, 12 // 3)
    assert [t.params for t in trials[:startup]] == [t.params for t in random_trials[:startup]]  # paired streams
    assert [t.params for t in trials] != [t.params for t in random_trials]  # and then its own model
    again = replay_study(cfg, strategy, 1, table)
    assert [(t.params, t.score, t.epochs_trained) for t in again[1]] == [(t.params, t.score, t.epochs_trained)
                                                                         for t in trials]
    assert again[0].test.accuracy == result.test.accuracy
    assert replay_study(cfg, strategy, 2, table)[1] != trials  # another seed, another study


def test_a_pruned_trial_costs_the_budget_the_epochs_it_trained(tables: Path) -> None:
    cfg = _cfg(budget_epochs=36)
    table = load_replay_table(cfg, tables)
    result, trials, epochs = replay_study(cfg, "tpe-hyperband", 3, table)
    pruned = [t for t in trials if t.reason.startswith("pruned")]  # the others failed (a diverging curve) or ran
    assert pruned, "Optuna's Hyperband pruner stops some trials of this budget"
    assert any(trial.epochs_trained < cfg.epochs_per_trial for trial in pruned)
    for trial in pruned:  # stopped by the pruner: early, or at its last epoch (then PRUNED to Optuna, as live)
        assert trial.status.value == "COMPLETE" and trial.epochs_trained <= cfg.epochs_per_trial
        assert trial.epochs_target == trial.epochs_trained and trial.reason == pruned_reason(trial.epochs_trained)
        assert trial.score == pytest.approx(max(e.val_accuracy for e in epochs if e.trial_id == trial.trial_id),
                                            abs=1e-6)  # epochs are stored rounded
    assert all(t.epochs_trained == cfg.epochs_per_trial for t in trials if not t.reason)
    assert result.trials == len(trials)
    assert result.epochs_planned == result.epochs_trained == sum(t.epochs_trained for t in trials) == len(epochs)
    assert cfg.budget_epochs - cfg.epochs_per_trial < result.epochs_trained <= cfg.budget_epochs
    assert result.trials > cfg.budget_epochs // cfg.epochs_per_trial  # pruning buys more trials than TPE alone


def _drive(oracle: kt.Oracle, curves: dict[str, np.ndarray], *, stop_after: int | None = None) -> list[tuple]:
    """Run the oracle as the live tuner does (a report per epoch, then the best epoch), each configuration scoring
    its synthetic curve; stop mid-trial (reports sent, trial not ended) when `stop_after` trials have ended."""
    seen = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            return seen
        curve = curves[str(sorted(trial.hyperparameters.values.items()))]
        history = []
        for epoch, value in enumerate(curve):
            history.append(value)
            answer = oracle.update_trial(trial.trial_id, {"val_accuracy": value, EPOCH_REPORT: 1.0}, step=epoch)
            if len(seen) == stop_after:
                return seen
            if answer.status == "STOPPED":
                break
        oracle.update_trial(trial.trial_id, {"val_accuracy": max(history)}, step=int(np.argmax(history)))
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        seen.append((trial.trial_id, dict(trial.hyperparameters.values), len(history)))


def test_a_reloaded_tpe_oracle_proposes_and_prunes_what_an_unbroken_one_does(tmp_path: Path) -> None:
    cfg = PRESETS["quick"]  # 27 epochs of 3-epoch trials
    from fmnist_bench.engine.spaces import AnnSpace

    def fresh(folder: Path) -> kt.Oracle:
        oracle = STRATEGIES["tpe-hyperband"](cfg, 7)
        oracle._set_project_dir(str(folder), "tpe")
        hp = kt.HyperParameters()
        AnnSpace().build(hp)
        oracle.update_space(hp)
        return oracle

    rng = np.random.default_rng(0)

    class Curves(dict):  # a curve per configuration, drawn once, the same whichever oracle asks
        def __missing__(self, key: str) -> np.ndarray:
            self[key] = np.sort(rng.uniform(0.6, 0.9, cfg.epochs_per_trial))
            return self[key]

    curves = Curves()
    unbroken = _drive(fresh(tmp_path / "a"), curves)
    assert any(epochs < cfg.epochs_per_trial for _, _, epochs in unbroken), "the pruner stopped some trials"
    broken = fresh(tmp_path / "b")
    first = _drive(broken, curves, stop_after=5)  # dies in its 6th trial, after one epoch's report
    broken.save()  # as another worker's trial ending would: the saved study holds that report of a running trial
    resumed = fresh(tmp_path / "b")
    resumed.reload()
    running = resumed._study.trials[-1]  # the trial that died: retried from its first epoch, so no reports kept
    assert running.state.name == "RUNNING" and running.intermediate_values == {}
    assert first + _drive(resumed, curves) == unbroken


def test_an_optuna_strategy_without_the_extra_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    real_version = importlib.metadata.version

    def without_optuna(name: str) -> str:
        if name == "optuna":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", without_optuna)
    require_optuna(("random", "hyperband", "bayesian"))  # keras-tuner's strategies never ask for it
    assert main(["run", "--preset", "smoke", "--strategies", "random,tpe", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'fmnist-bench[optuna]'" in err[0] and "'tpe'" in err[0]
    assert not (tmp_path / "runs").exists()  # refused before anything was written


@pytest.mark.parametrize("version, accepted", [("3.6.1", False), ("4.0.0", True), ("5.0.0", True),
                                               ("6.0.0", False)])
def test_an_optuna_outside_the_tested_range_is_refused_in_one_line(version: str, accepted: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    if accepted:
        require_optuna(("tpe",))
    else:
        with pytest.raises(ConfigError, match=f"optuna {version} is installed; .* >=4.0,<6"):
            require_optuna(("tpe-hyperband",))


@pytest.mark.slow
@pytest.mark.usefixtures("real_data_available")
def test_a_live_pruned_study_killed_and_resumed_gives_the_records_of_an_unbroken_one(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fmnist_bench", "run", "--preset", "smoke", "--strategies", "tpe-hyperband",
               "--budget-epochs", "12"]
    unbroken = subprocess.run(command + ["--results-dir", str(tmp_path / "a")], capture_output=True, text=True,
                              timeout=600)
    assert unbroken.returncode == 0, unbroken.stderr[-3000:]
    victim = subprocess.Popen(command + ["--results-dir", str(tmp_path / "b")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True,
                              env=with_fault("tpe-hyperband-seed1", 3, "SIGKILL", "group"))
    assert victim.wait(timeout=HANG_GUARD_SECONDS) == -signal.SIGKILL
    resumed = subprocess.run(command + ["--results-dir", str(tmp_path / "b")], capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (run,) = (tmp_path / "a" / "runs").iterdir()
    mine, theirs = (RunPaths(tmp_path / side / "runs" / run.name).study_dir("tpe-hyperband", 1) for side in "ba")
    trials = rows_without_timing(theirs / "trials.csv")
    assert rows_without_timing(mine / "trials.csv") == trials
    assert rows_without_timing(mine / "epochs.csv") == rows_without_timing(theirs / "epochs.csv")
    pruned = [t for t in trials if t["reason"].startswith("pruned after epoch")]
    assert pruned and all(int(t["epochs_trained"]) == int(t["epochs_target"]) < 2 for t in pruned)
    assert sum(int(t["epochs_trained"]) for t in trials) <= 12


@pytest.mark.slow
@pytest.mark.usefixtures("real_data_available")
def test_the_pruner_stops_the_trials_of_keras_tuner_workers(tmp_path: Path) -> None:
    """With --workers, each epoch's report goes over keras-tuner's gRPC to the chief's Optuna oracle, whose STOPPED
    answer ends the worker's trial. ASHA's successive-halving pruner stands for both: TPE with Hyperband's pruner is
    the same oracle with another Optuna pruner, run live and serially in the test above (running it with workers
    too cost about 40 s of CI's slow group)."""
    from conftest import processes_mentioning

    proc = subprocess.run([sys.executable, "-m", "fmnist_bench", "run", "--preset", "smoke", "--strategies", "asha",
                           "--budget-epochs", "12", "--workers", "2", "--results-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    trials = rows_without_timing(RunPaths(run).study_dir("asha", 1) / "trials.csv")
    pruned = [t for t in trials if t["reason"].startswith("pruned after epoch")]
    assert pruned and all(int(t["epochs_trained"]) == int(t["epochs_target"]) == 1 for t in pruned)
    assert sum(int(t["epochs_trained"]) for t in trials) <= 12
    assert processes_mentioning(str(tmp_path)) == []


def test_without_optuna_installed_keras_tuners_strategies_replay_and_optunas_are_refused(tables: Path,
                                                                                          tmp_path: Path) -> None:
    """A process where Optuna cannot be imported nor found by its metadata (as without the extra): keras-tuner's
    three strategies replay a run and never import it; asking for TPE is one line and exit 2."""
    script = f"""
import importlib.abc, importlib.metadata as metadata, sys
from pathlib import Path

class NoOptuna(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "optuna":
            raise ModuleNotFoundError(f"No module named {{name!r}}")

sys.meta_path.insert(0, NoOptuna())
found = metadata.version
def version(name):
    if name == "optuna":
        raise metadata.PackageNotFoundError(name)
    return found(name)
metadata.version = version

sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_replay import _cfg
from fmnist_bench.cli import main
from fmnist_bench.tabular import run_replay
outcome = run_replay(_cfg(seeds=(1,)), results_dir=Path(sys.argv[1]) / "r", tables_dir=Path(sys.argv[2]))
print("replayed", len(outcome.results), "optuna" in sys.modules)
sys.exit(main(["-q", "run", "--preset", "smoke", "--strategies", "random,tpe-hyperband", "--results-dir",
               sys.argv[1]]))
"""
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(tables)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "replayed 3 False"
    (line,) = [x for x in proc.stderr.splitlines() if "fmnist-bench" in x]
    assert "'tpe-hyperband' is Optuna's" in line and "pip install 'fmnist-bench[optuna]'" in line
