"""Bad input: one line on stderr, a non-zero exit, no traceback, and existing results untouched."""

from __future__ import annotations

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
    assert "no r" in _error_line(capsys, command + ["--results-dir", str(tmp_path / "missing")])
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
    for option in ("--preset", "--strategies", "--seeds", "--budget-epochs", "--batch-size", "--results-dir",
                   "--data-dir", "--jobs", "--device", "smoke", "standard"):
        assert option in text
