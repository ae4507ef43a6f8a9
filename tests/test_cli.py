"""Bad input: one line on stderr, a non-zero exit, no traceback, and existing results untouched."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fmnist_bench.cli import main


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("fmnist-bench: error: "), err
    return err[0]


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["run", "--preset", "huge"], "invalid choice: 'huge'", id="unknown-preset"),
    pytest.param(["run", "--strategies", "random,grid"], "unknown strategy 'grid'", id="unknown-strategy"),
    pytest.param(["run", "--space", "vit"], "unknown space 'vit'", id="unknown-space"),
    pytest.param(["run", "--seeds", "0"], "seeds must be integers >= 1", id="seed-zero"),
    pytest.param(["run", "--seeds", "one"], "seeds must be integers >= 1", id="seed-text"),
    pytest.param(["run", "--seeds", "1,2.5"], "seeds must be integers >= 1", id="seed-float"),
    pytest.param(["run", "--preset", "smoke", "--budget-epochs", "1"], "too small for one trial", id="budget"),
    pytest.param(["run", "--batch-size", "-4"], "positive integer", id="batch"),
    pytest.param(["frobnicate"], "invalid choice", id="unknown-command"),
    pytest.param(["chief", "--port", "70000"], "a port between 1 and 65535, found 70000", id="port-range"),
    pytest.param(["worker", "--oracle", "host:0", "--run-dir", "x"], "a port between 1 and 65535", id="oracle-port"),
    pytest.param(["table", "validate", "--seed", "3", "--jobs", "2"], "--seed, --jobs are build options",
                 id="validate-build-options"),
    pytest.param(["table", "validate", "--space", "ann"], "'ann' is not a grid and has no table; tables exist for "
                 "the grid spaces: ann-grid", id="validate-not-a-grid"),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert message in _error_line(capsys, argv)


def test_unknown_config_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("epochs = 3\n")
    assert "unknown config key(s) epochs" in _error_line(capsys, ["run", "--config", str(path)])


def test_missing_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _error_line(capsys, ["run", "--preset", "smoke", "--data-dir", str(tmp_path / "none"),
                                "--results-dir", str(tmp_path / "r")])
    assert "Fashion-MNIST not found" in line and "apt-get install dataset-fashion-mnist" in line


def test_corrupt_data(capsys: pytest.CaptureFixture[str], tiny_data_dir: Path, tmp_path: Path) -> None:
    line = _error_line(capsys, ["data", "--data-dir", str(tiny_data_dir)])
    assert "md5" in line


def test_results_path_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "results"
    target.write_text("precious")
    line = _error_line(capsys, ["run", "--preset", "smoke", "--results-dir", str(target)])
    assert "is a file" in line and target.read_text() == "precious"


def test_results_path_not_writable(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["run", "--preset", "smoke", "--results-dir", "/proc/fmnist-results"])
    assert "not writable" in line


@pytest.mark.parametrize("command", [["report"], ["leaderboard"]])
def test_report_and_leaderboard_without_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             command: list[str]) -> None:
    missing = tmp_path / "missing"
    line = _error_line(capsys, command + ["--results-dir", str(missing)])
    assert f"no results folder {missing};" in line, line
    (tmp_path / "empty").mkdir()
    assert "no runs" in _error_line(capsys, command + ["--results-dir", str(tmp_path / "empty")])


def test_report_of_a_half_written_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"schema": 1, "kind": "config", "config": {"strate')
    assert "not JSON" in _error_line(capsys, ["report", "r1", "--results-dir", str(tmp_path)])


def test_help_explains_every_run_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    from fmnist_bench import catalog
    from fmnist_bench.cli import build_parser
    from fmnist_bench.config import PRESETS

    run = next(a for a in build_parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith(" run"))
    options = [o for action in run._actions for o in action.option_strings if o.startswith("--")]
    missing = [name for name in [*options, *catalog.STRATEGIES, *PRESETS] if name not in text]
    assert len(options) > 20 and missing == []


def _help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_the_user_commands_with_one_line_each_and_hides_internals(
        capsys: pytest.CaptureFixture[str]) -> None:
    from fmnist_bench.cli import USER_COMMANDS

    text = _help(capsys, ["--help"])
    listed = re.findall(r"^    (\w+) +\S", text, re.M)  # a command, with its help on the same line
    assert listed == list(USER_COMMANDS)  # every user command, and nothing else (no child-process entry points)


@pytest.mark.parametrize("argv", [["-q", "run", "--preset", "smoke"], ["run", "--preset", "smoke", "-q"],
                                  ["run", "-q", "--preset", "smoke"], ["report", "--quiet"], ["data", "-q"]])
def test_global_options_work_before_and_after_the_command(argv: list[str]) -> None:
    from fmnist_bench.cli import build_parser

    assert build_parser().parse_args(argv).quiet is True


def test_quiet_stays_off_unless_asked_for() -> None:
    from fmnist_bench.cli import build_parser

    assert build_parser().parse_args(["run"]).quiet is False


@pytest.mark.parametrize("command", ["run", "chief", "worker", "report", "leaderboard", "benchmarks", "data", "table"])
def test_every_option_of_every_command_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    from fmnist_bench.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    undocumented = [a.dest for a in sub._actions if not a.help]
    assert undocumented == []


def test_chief_takes_every_option_run_has_but_the_local_process_ones() -> None:
    """...and replay's: a replay reads a table in one process, it has no trials to serve."""
    from fmnist_bench.cli import build_parser

    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    options = {name: {o for a in subs[name]._actions for o in a.option_strings} for name in ("run", "chief")}
    assert options["run"] - options["chief"] == {"--jobs", "--threads", "--dry-run", "--trials-per-process", "--replay",
                                                  "--tables-dir", "--scheduler", "--refit-seeds", "--table-seeds",
                                                  "--table-noise", "--table-noise-strategies"}


def test_a_time_budget_is_part_of_the_config_and_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    from fmnist_bench.cli import build_parser, config_from_args

    cfg = config_from_args(build_parser().parse_args(["run", "--preset", "smoke", "--budget-seconds", "90"]))
    assert cfg.budget_seconds == 90.0 and cfg.to_dict()["budget_seconds"] == 90.0
    assert "expected seconds > 0" in _error_line(capsys, ["run", "--budget-seconds", "0"])


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU: --device gpu would run")
def test_device_gpu_without_a_gpu_fails_once_before_any_study_starts(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _error_line(capsys, ["run", "--preset", "smoke", "--device", "gpu", "--results-dir", str(tmp_path)])
    assert "--device gpu was asked for, but TensorFlow sees no GPU" in line
    assert not (tmp_path / "runs").exists()  # no study started, no run folder made


@pytest.mark.parametrize(("asked", "refused"), [("gpu", True), ("cpu", False), ("auto", False)])
def test_a_run_made_on_one_kind_of_device_is_not_passed_off_as_the_other(
        tmp_path: Path, asked: str, refused: bool) -> None:
    from types import SimpleNamespace

    from fmnist_bench.errors import ResultsError
    from fmnist_bench.orchestration.runner import refuse_other_device
    from fmnist_bench.store import RunPaths

    done = {("random", 1): SimpleNamespace(device="cpu: AMD EPYC (2 threads)")}
    if refused:
        with pytest.raises(ResultsError, match=r"holds studies made on cpu: AMD EPYC .*--device gpu was asked for"):
            refuse_other_device(RunPaths(tmp_path), done, asked)  # type: ignore[arg-type]
    else:
        refuse_other_device(RunPaths(tmp_path), done, asked)  # type: ignore[arg-type]


def test_version_and_the_program_name_the_user_typed(capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    from fmnist_bench import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"python -m fmnist_bench {__version__}"
    script = Path(sys.executable).with_name("fmnist-bench")  # the console script pip installed beside python
    proc = subprocess.run([str(script), "run", "--seeds", "0"], capture_output=True, text=True)
    assert proc.returncode == 2 and "(see fmnist-bench run --help)" in proc.stderr


def test_a_users_runs_and_tables_go_where_git_does_not_look() -> None:
    """A run in a clone never rewrites the results it ships: the default results folder (and its tables) is ignored by
    git, and the shipped reference folder is another one, which git tracks."""
    from fmnist_bench.store import DEFAULT_RESULTS

    root = Path(__file__).resolve().parents[1]
    for path in (DEFAULT_RESULTS / "LEADERBOARD.md", DEFAULT_RESULTS / "runs" / "smoke-ann-x" / "summary.md",
                 DEFAULT_RESULTS / "tables" / "ann-grid" / "seed1.jsonl.gz"):
        assert subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=root).returncode == 0, path
    assert (root / "results" / "LEADERBOARD.md").is_file()
    assert subprocess.run(["git", "check-ignore", "-q", "results/LEADERBOARD.md"], cwd=root).returncode == 1


def test_a_replay_reads_the_users_table_first_then_the_shipped_one(tmp_path: Path, monkeypatch) -> None:
    """The shipped table is read only where the user has none of that name; an installed wheel, which ships no results
    (its reference folder does not exist), reads the user's folder, whose absence the replay then reports."""
    from fmnist_bench import store
    from fmnist_bench.store import layout  # where tables_dir_for reads the two folders

    own, shipped = tmp_path / "local", tmp_path / "shipped"
    monkeypatch.setattr(layout, "DEFAULT_RESULTS", own)
    monkeypatch.setattr(layout, "REFERENCE_RESULTS", shipped)
    assert store.tables_dir_for("ann-grid", None) == own / "tables"  # neither holds it (or no reference at all)
    (shipped / "tables" / "ann-grid").mkdir(parents=True)
    (shipped / "tables" / "ann-grid" / "table.json").write_text("{}")
    assert store.tables_dir_for("ann-grid", None) == shipped / "tables"
    (own / "tables" / "ann-grid").mkdir(parents=True)
    (own / "tables" / "ann-grid" / "table.json").write_text("{}")
    assert store.tables_dir_for("ann-grid", None) == own / "tables"
    assert store.tables_dir_for("ann-grid", tmp_path / "given") == tmp_path / "given"


def test_a_replay_names_a_table_in_this_clone_from_the_clones_root(tmp_path: Path) -> None:
    """The shipped table's folder, reached by an absolute path, is recorded and printed as `results/tables/...`, so a
    committed summary names the same folder on every machine; a folder elsewhere keeps the path it was given."""
    from fmnist_bench.store import REFERENCE_RESULTS, clone_relative

    assert clone_relative(REFERENCE_RESULTS / "tables" / "ann-grid") == "results/tables/ann-grid"
    assert clone_relative(tmp_path / "tables") == str(tmp_path / "tables")
