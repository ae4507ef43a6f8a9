"""Real runs on a real-data subset: records, resume after SIGKILL, determinism, divergence, PyTorch-freedom."""

from __future__ import annotations

import csv
import importlib.metadata
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HANG_GUARD_SECONDS, rows_without_timing, with_fault
from fmnist_bench.config import PRESETS
from fmnist_bench.environment import cpu_vector_isa, numpy_blas
from fmnist_bench.errors import StudyFailed
from fmnist_bench.store import RunPaths, run_lock

pytestmark = pytest.mark.usefixtures("real_data_available")
SMOKE_ID = PRESETS["smoke"].run_id


def _run(results: Path, *extra: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fmnist_bench", "run", "--preset", "smoke", "--results-dir",
                           str(results), *extra], capture_output=True, text=True, timeout=600, **kwargs)


def _outcome(study_dir: Path) -> dict:
    study = json.loads((study_dir / "study.json").read_text())
    return {k: study[k] for k in ("best_params", "best_val_accuracy", "test", "epochs_trained", "trials")}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    results = tmp_path_factory.mktemp("smoke")
    return results, _run(results)


def test_smoke_run_writes_every_record(smoke: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    results, proc = smoke
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^strategy +seed +selection \(val\) +test acc +macro F1 +epochs +trials +search time +final fit$",
                     proc.stdout, re.M)
    assert re.search(r"study 3/3 done: .* process wall time \S+ \(search \S+, final fit \S+, ", proc.stderr)
    assert "Traceback" not in proc.stderr and "I0000" not in proc.stderr  # concise progress, no TF chatter
    assert re.search(r"\[hyperband seed1\] trial t001 .* best 0\.\d{4} \| epochs \d+/6 \| .* searched", proc.stderr)
    assert re.search(r"^\[bayesian seed1\] final fit epoch 2/2 val_acc 0\.\d{4}$", proc.stderr, re.M)  # refit progress
    run = RunPaths(results / "runs" / SMOKE_ID)
    env = json.loads(run.env.read_text())
    assert env["tensorflow"] and env["keras"] and env["keras_tuner"] and env["cpu"] and env["finished_at"]
    assert env["cpu_isa"] == cpu_vector_isa()
    assert env["numpy_blas"] == numpy_blas() and env["numpy_blas"]  # e.g. scipy-openblas 0.3.31
    cpu = f"{env['cpu']} ({env['cpu_isa']})" if env["cpu_isa"] else env["cpu"]  # what a rerun must match
    assert re.search(rf"^\| CPU +\| {re.escape(cpu)} +\|", run.summary.read_text(), re.M)
    for name in ("summary.md", "curves_epochs.png", "curves_time.png", "config.json"):
        assert (run.root / name).stat().st_size > 0
    board = (results / "LEADERBOARD.md").read_text()
    assert board.count(f"(runs/{SMOKE_ID}/summary.md)") == 1  # its row in the smoke section, all three scores
    assert "## Compatibility smoke runs" in board
    for strategy in ("random", "hyperband", "bayesian"):
        folder = run.study_dir(strategy, 1)
        study = json.loads((folder / "study.json").read_text())
        assert study["schema"] == 1 and study["device"].startswith(("cpu", "gpu"))
        assert study["test"]["accuracy"] > 0.5  # chance is 0.1
        assert len(study["test"]["f1"]) == 10 and len(study["test"]["confusion"]) == 10
        assert sum(map(sum, study["test"]["confusion"])) == PRESETS["smoke"].test_subset
        assert set(study["best_params"]) == {"n_hidden_layers", "neurons", "activation", "learning_rate"}
        trials, epochs = rows_without_timing(folder / "trials.csv"), rows_without_timing(folder / "epochs.csv")
        assert len(trials) == study["trials"] and len(epochs) == study["epochs_trained"] <= 6
        assert {"status", "score", "hp_neurons", "epochs_trained"} <= set(trials[0])
        assert (folder / "confusion.png").stat().st_size > 10_000
        assert study["search_seconds"] > 0 and study["final_fit_seconds"] > 0
        timed = list(csv.DictReader((folder / "trials.csv").open()))
        assert all(float(row["oracle_seconds"]) >= 0 for row in timed)  # the oracle's compute, measured per trial
        assert study["search_seconds"] == pytest.approx(sum(float(r["seconds"]) + float(r["oracle_seconds"])
                                                            for r in timed))


def test_rerun_resumes_instead_of_repeating(smoke: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    results, _ = smoke
    env = RunPaths(results / "runs" / SMOKE_ID).env
    before = env.read_text()
    proc = _run(results)
    assert proc.returncode == 0 and "3 already complete" in proc.stderr and "started" not in proc.stderr
    assert env.read_text() == before  # nothing ran, so the recorded finish time stays true


@pytest.mark.timing
def test_a_second_run_killed_and_resumed_gives_the_records_of_the_first(
        smoke: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    """Reproducibility and exact resume in one second run, of random search and Hyperband (Bayesian optimisation's
    second run is the slow group's, `test_parallel_jobs_give_the_serial_results`): it is killed mid-way through
    Hyperband, so random search ran from scratch and must equal the first run's, and Hyperband resumed to it."""
    reference, _ = smoke
    command = [sys.executable, "-m", "fmnist_bench", "run", "--preset", "smoke", "--strategies", "random,hyperband",
               "--results-dir", str(tmp_path)]
    run_id = PRESETS["smoke"].replace(strategies=("random", "hyperband")).run_id
    # the parent and its study process, killed together right after Hyperband's second trial is recorded
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env=with_fault("hyperband-seed1", 1, "SIGKILL", "group"))
    assert victim.wait(timeout=HANG_GUARD_SECONDS) == -signal.SIGKILL
    marker = tmp_path / "runs" / run_id / ".work" / "hyperband-seed1" / "records" / "trial_0001.json"
    assert marker.exists() and not (marker.parent / "trial_0002.json").exists()
    assert not (marker.parents[3] / "studies" / "hyperband-seed1" / "study.json").exists()
    leftovers = [p for p in (tmp_path / "runs").rglob("*") if p.name.endswith(".tmp")]
    assert not [p for p in leftovers if ".work" not in p.parts]  # nothing half-written among the results
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 already complete" in proc.stderr
    for strategy in ("random", "hyperband"):
        mine = RunPaths(tmp_path / "runs" / run_id).study_dir(strategy, 1)
        theirs = RunPaths(reference / "runs" / SMOKE_ID).study_dir(strategy, 1)
        assert rows_without_timing(mine / "trials.csv") == rows_without_timing(theirs / "trials.csv"), strategy
        assert rows_without_timing(mine / "epochs.csv") == rows_without_timing(theirs / "epochs.csv"), strategy
        assert _outcome(mine) == _outcome(theirs), strategy


@pytest.mark.timing
def test_ctrl_c_stops_promptly_and_says_how_to_resume(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fmnist_bench", "run", "--preset", "smoke", "--results-dir", str(tmp_path)]
    # A shell without job control starts background jobs with SIGINT ignored, and Python keeps an inherited
    # SIG_IGN; give the run the disposition an interactive terminal gives it.
    # SIGINT to the whole group, as a terminal sends it, right after random search's first trial is recorded
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            env=with_fault("random-seed1", 0, "SIGINT", "group"))
    marker = tmp_path / "runs" / SMOKE_ID / ".work" / "random-seed1" / "records" / "trial_0000.json"
    _, err = proc.communicate(timeout=HANG_GUARD_SECONDS)
    assert proc.returncode == 130
    assert "run the same command again to resume" in err and "Traceback" not in err
    # Promptly: the interrupted study did not go on to finish its 3 trials, and no other study started.
    assert marker.exists() and not (marker.parent / "trial_0001.json").exists()
    assert not (tmp_path / "runs" / SMOKE_ID / "studies" / "random-seed1" / "study.json").exists()
    assert not (tmp_path / "runs" / SMOKE_ID / ".work" / "hyperband-seed1").exists()


def test_a_run_id_holding_another_config_is_refused(smoke: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    reference, _ = smoke
    before = (reference / "runs" / SMOKE_ID / "config.json").read_bytes()
    proc = _run(reference, "--strategies", "random", "--run-id", SMOKE_ID)
    assert proc.returncode == 2 and "holds a run with a different config (strategies differ)" in proc.stderr
    assert (reference / "runs" / SMOKE_ID / "config.json").read_bytes() == before


def test_a_run_id_holding_an_older_space_revision_is_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from fmnist_bench.cli import main
    from fmnist_bench.store import atomic_write_json

    paths = RunPaths(tmp_path / "runs" / "made-before-ann-r2")
    paths.root.mkdir(parents=True)
    # What runs stored before revisions existed hold: the same config, no revision (that is, revision 1).
    atomic_write_json(paths.config, "config", {"config": PRESETS["smoke"].to_dict(), "run_id": paths.root.name})
    assert main(["run", "--preset", "smoke", "--results-dir", str(tmp_path), "--run-id", paths.root.name]) == 2
    assert (f"{paths.root} holds a run of the ann space's revision 1 and this version searches revision 2"
            in capsys.readouterr().err)
    assert {p.name for p in paths.root.iterdir()} <= {"config.json", ".lock"}  # nothing trained, nothing added


def test_a_second_writer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fmnist_bench.cli import main

    paths = RunPaths(tmp_path / "runs" / SMOKE_ID)
    paths.root.mkdir(parents=True)
    with run_lock(paths):
        assert main(["run", "--preset", "smoke", "--results-dir", str(tmp_path)]) == 2
    assert "another fmnist-bench process" in capsys.readouterr().err


def test_diverging_trials_are_recorded_and_a_study_without_survivors_fails_cleanly(tmp_path: Path) -> None:
    from fmnist_bench.config import preset_config
    from fmnist_bench.engine import study

    exploding = tmp_path / "exploding.py"  # a user's space: every configuration diverges (SGD at lr 1e12)
    exploding.write_text(
        "import keras\n\n\ndef build_model(hp):\n"
        "    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),\n"
        "                              keras.layers.Dense(hp.Int('neurons', 32, 128, step=32), activation='relu'),\n"
        "                              keras.layers.Dense(10)])\n"
        "    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e12), metrics=['accuracy'],\n"
        "                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
        "    return model\n")
    cfg = preset_config("smoke", f"{exploding}:build_model").replace(strategies=("random",))
    paths = RunPaths(tmp_path / "run")
    with pytest.raises(StudyFailed, match=r"all 3 trials failed \(diverged: training loss became nan"):
        study.run_study(cfg, "random", 1, paths, data_dir=None, device="cpu", threads=2)
    records = sorted((paths.study_work("random", 1) / "records").glob("trial_*.json"))
    assert len(records) == 3
    trial = json.loads(records[0].read_text())["trial"]
    assert trial["status"] == "FAILED" and trial["reason"].startswith("diverged") and trial["score"] is None
    assert not (paths.study_dir("random", 1) / "study.json").exists()


@pytest.mark.stack_independent  # Keras 2 has no torch backend to import it: the Keras 3 run is the stricter check
def test_pytorch_is_never_imported_nor_required(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from fmnist_bench.config import PRESETS; from fmnist_bench.store import RunPaths\n"
        "from fmnist_bench.engine.study import run_study\n"
        "for strategy in ('hyperband', 'tpe-hyperband'):  # keras-tuner's and Optuna's (the extra installed)\n"
        "    run_study(PRESETS['smoke'].replace(budget_epochs=2), strategy, 1, RunPaths(Path(sys.argv[1])),"
        " data_dir=None, device='auto', threads=2)\n"
        "assert 'optuna' in sys.modules\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("torch")
    requiring = [d.metadata["Name"] for d in importlib.metadata.distributions() for r in (d.requires or [])
                 if re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0].lower() == "torch" and "extra ==" not in r]
    assert requiring == []


@pytest.mark.stack_independent  # the harness's process handling, checked against the default group's smoke run
def test_parallel_jobs_give_the_serial_results(smoke: tuple[Path, subprocess.CompletedProcess[str]],
                                               tmp_path: Path) -> None:
    reference, _ = smoke
    proc = _run(tmp_path, "--strategies", "random,bayesian", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    parallel = next((tmp_path / "runs").iterdir())
    for strategy in ("random", "bayesian"):
        mine = RunPaths(parallel).study_dir(strategy, 1)
        theirs = RunPaths(reference / "runs" / SMOKE_ID).study_dir(strategy, 1)
        # 1 thread instead of 2 may sum a reduction in another order: losses can differ in the last float32 bit
        # (measured: relative 8e-8 with 2x<=1024-unit layers); everything else must be identical.
        ours, reference_rows = rows_without_timing(mine / "epochs.csv"), rows_without_timing(theirs / "epochs.csv")
        assert [r["trial_id"] for r in ours] == [r["trial_id"] for r in reference_rows], strategy
        for a, b in zip(ours, reference_rows, strict=True):
            assert {k: float(v) for k, v in a.items() if k != "trial_id"} == pytest.approx(
                {k: float(v) for k, v in b.items() if k != "trial_id"}, rel=1e-6), strategy
        assert _outcome(mine) == _outcome(theirs), strategy


@pytest.mark.stack_independent
def test_recycling_the_study_process_changes_nothing(smoke: tuple[Path, subprocess.CompletedProcess[str]],
                                                     tmp_path: Path) -> None:
    reference, _ = smoke
    proc = _run(tmp_path, "--strategies", "hyperband", "--trials-per-process", "1")  # a new process per trial
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("study 1/1: hyperband seed 1 started") == 1
    mine = RunPaths(next((tmp_path / "runs").iterdir())).study_dir("hyperband", 1)
    theirs = RunPaths(reference / "runs" / SMOKE_ID).study_dir("hyperband", 1)
    assert rows_without_timing(mine / "trials.csv") == rows_without_timing(theirs / "trials.csv")
    assert rows_without_timing(mine / "epochs.csv") == rows_without_timing(theirs / "epochs.csv")
    assert _outcome(mine) == _outcome(theirs)
    rss = [float(row["rss_mb"]) for row in csv.DictReader((mine / "trials.csv").open())]
    assert len(rss) == 3 and all(r > 0 for r in rss)


@pytest.mark.slow
def test_the_final_fit_decays_its_learning_rate_on_a_plateau_when_configured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from fmnist_bench.engine import study

    seen: list[tuple[str, float, int]] = []

    class Recording(keras.callbacks.ReduceLROnPlateau):
        def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            super().on_epoch_end(epoch, logs)
            seen.append((self.monitor, self.factor, self.patience))

    monkeypatch.setattr(keras.callbacks, "ReduceLROnPlateau", Recording)
    cfg = PRESETS["smoke"].replace(strategies=("random",), budget_epochs=2, final_epochs=3, patience=3)
    study.run_study(cfg, "random", 1, RunPaths(tmp_path / "constant"), data_dir=None, device="cpu", threads=2)
    assert seen == []  # the original protocol: a constant learning rate
    study.run_study(cfg.replace(final_lr_decay=0.5), "random", 1, RunPaths(tmp_path / "decayed"), data_dir=None,
                    device="cpu", threads=2)
    assert seen == [("val_accuracy", 0.5, cfg.lr_plateau_patience)] * 3  # every epoch of the 3-epoch final fit


def test_refits_train_the_chosen_configuration_again_and_report_their_spread(tmp_path: Path) -> None:
    from fmnist_bench.engine import study
    from fmnist_bench.reports import write_report
    from fmnist_bench.store import atomic_write_json

    cfg = PRESETS["smoke"].replace(strategies=("random",), budget_epochs=2, final_epochs=1, refits=2)
    paths = RunPaths(tmp_path / "runs" / "refits")
    atomic_write_json(paths.config, "config", {"config": cfg.to_dict()})
    result = study.run_study(cfg, "random", 1, paths, data_dir=None, device="cpu", threads=2)
    first, second = result.refit_test_accuracies
    assert first == result.test.accuracy  # the first refit is the one every earlier run made
    assert first != second  # another initialisation, another model (deterministic: same values every run)
    assert result.mean_test_accuracy == pytest.approx((first + second) / 2)
    assert "refits: test acc mean ± sd (n)" in write_report(paths.root).read_text()


@pytest.mark.slow
@pytest.mark.timing
def test_a_time_budget_ends_the_search_before_the_epoch_budget(tmp_path: Path) -> None:
    # a millisecond: no trial (a model built, compiled and trained for 2 epochs) fits in it on any machine
    proc = _run(tmp_path, "--strategies", "random", "--budget-epochs", "60", "--budget-seconds", "0.001")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = next((tmp_path / "runs").iterdir())
    study = json.loads((RunPaths(run).study_dir("random", 1) / "study.json").read_text())
    assert study["trials"] == 1 and study["epochs_trained"] == 2  # the first trial spent the budget
    summary = (run / "summary.md").read_text()
    assert "0.001 s of search or 60 training epochs, whichever is spent first" in summary


def test_a_dry_run_shows_the_run_and_estimates_its_time_from_committed_studies(
        smoke: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from fmnist_bench.cli import main
    from fmnist_bench.orchestration import describe_estimate, estimate_seconds
    from fmnist_bench.records import StudyResult

    from fmnist_bench import store

    results, _ = smoke
    monkeypatch.setattr(store, "REFERENCE_RESULTS", tmp_path / "no-reference")  # the shipped runs count too, if alike
    assert main(["run", "--preset", "smoke", "--dry-run", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert f"run id: {SMOKE_ID}" in out and "3 complete, 0 to run" in out and "nothing to run" in out
    studies = [StudyResult.from_dict(json.loads(p.read_text()))
               for p in (results / "runs" / SMOKE_ID / "studies").glob("*/study.json")]
    cells = [(s.strategy, 2) for s in studies]  # seed 2 of each strategy: not run yet, same work per study
    seconds, based_on, lower_bound, folders = estimate_seconds(PRESETS["smoke"], [results], cells, jobs=1,
                                                               device="cpu")
    walls = json.loads((results / "runs" / SMOKE_ID / "env.json").read_text())["study_wall_seconds"]
    assert sorted(walls) == sorted(f"{s.strategy}-seed1" for s in studies)  # each study process's wall time
    assert based_on == 3 and seconds == pytest.approx(sum(walls.values())) and not lower_bound
    assert folders == (results,)  # named where the estimate is printed: the one input beside the given folder
    assert all(walls[f"{s.strategy}-seed1"] > s.search_seconds + s.final_fit_seconds for s in studies)
    assert estimate_seconds(PRESETS["smoke"], [results], cells, jobs=1, device="gpu") is None  # no GPU studies there
    import shutil

    elsewhere = tmp_path / "elsewhere"  # the same studies, made on another kind of machine: not comparable
    shutil.copytree(results / "runs" / SMOKE_ID, elsewhere / "runs" / SMOKE_ID, ignore=shutil.ignore_patterns(".*"))
    env = json.loads((elsewhere / "runs" / SMOKE_ID / "env.json").read_text())
    (elsewhere / "runs" / SMOKE_ID / "env.json").write_text(json.dumps(env | {"cpu_count": 64}))
    assert estimate_seconds(PRESETS["smoke"], [elsewhere], cells, jobs=1, device="cpu") is None
    older = tmp_path / "older"  # stored before runs recorded each study process's wall time: a lower bound
    shutil.copytree(results / "runs" / SMOKE_ID, older / "runs" / SMOKE_ID, ignore=shutil.ignore_patterns(".*"))
    env = json.loads((older / "runs" / SMOKE_ID / "env.json").read_text())
    (older / "runs" / SMOKE_ID / "env.json").write_text(json.dumps({k: v for k, v in env.items()
                                                                   if k != "study_wall_seconds"}))
    bound = estimate_seconds(PRESETS["smoke"], [older], cells, jobs=1, device="cpu")
    assert bound is not None and bound.lower_bound and bound.studies == 3
    assert bound.seconds == pytest.approx(sum(s.search_seconds + s.final_fit_seconds for s in studies))
    assert bound.seconds < seconds and describe_estimate(bound).startswith("at least ")
    mixed = estimate_seconds(PRESETS["smoke"], [results, older], cells, jobs=1, device="cpu")
    assert mixed == (pytest.approx(seconds), 3, False, (results,))  # older records count only where no other does
    assert describe_estimate(mixed).endswith(f"on a machine like this one, in {results})")
    assert main(["run", "--preset", "smoke", "--strategies", "random", "--seeds", "2", "--dry-run", "--results-dir",
                 str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "2 (random x seeds 1,2), 0 complete, 2 to run" in out and "no time estimate" in out
    assert "data: checked (60000 training and 10000 test examples in the files, 10 classes)" in out
    assert not (tmp_path / "r").exists()  # a dry run makes nothing


def test_runs_lists_the_run_and_reclaiming_work_keeps_it_resumable(
        smoke: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    """Last in this file: it deletes the shared smoke run's .work folder."""
    import shutil

    from fmnist_bench.errors import ResultsError
    from fmnist_bench.store import reclaim_work, run_status

    results, _ = smoke
    run_dir = results / "runs" / SMOKE_ID
    # each study dropped its keras-tuner project and trial records as it completed: only what resume needs is left
    assert not list((run_dir / ".work").glob("*/tuner")) and not list((run_dir / ".work").glob("*/records"))
    assert run_status(run_dir).work_bytes < 100_000
    assert not (run_dir / ".work").exists()  # emptied study by study, then removed by the run that completed
    unfinished = tmp_path / "runs" / SMOKE_ID
    shutil.copytree(run_dir, unfinished)
    (unfinished / "studies" / "bayesian-seed1" / "study.json").unlink()
    kept = unfinished / ".work" / "bayesian-seed1" / "tuner"
    kept.mkdir(parents=True)  # what an unfinished study holds
    (kept / "oracle.json").write_text("{}")
    with pytest.raises(ResultsError, match="2 of 3 studies complete; its .work folder is what resumes it"):
        reclaim_work(unfinished)
    assert (kept / "oracle.json").is_file()  # kept for the resume
    older = run_dir / ".work" / "random-seed1" / "tuner"  # what a run made before studies dropped their state keeps
    older.mkdir(parents=True)
    (older / "checkpoint.weights.h5").write_bytes(bytes(2_000_000))

    listing = subprocess.run([sys.executable, "-m", "fmnist_bench", "runs", "--results-dir", str(results),
                              "--reclaim-work"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    (row,) = [line for line in listing.stdout.splitlines() if line.startswith(f"| {SMOKE_ID}")]
    assert "| live " in row and "| 3/3 " in row and "| 0.0 MB " in row  # .work is gone
    freed = float(re.search(r"reclaimed ([\d.]+) MB", listing.stdout)[1])
    assert freed > 1 and not (run_dir / ".work").exists() and run_status(run_dir).work_bytes == 0
    again = _run(results)
    assert again.returncode == 0 and "3 already complete" in again.stderr  # finished results need no .work
