"""`pytest benchmarks` must measure: pytest-benchmark switches itself off, silently but for a warning, whenever
xdist's `--dist` is set, and an option added to pytest's addopts for the tests reaches the benchmarks too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_documented_benchmark_command_records_a_measurement(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.json"
    # as from a user's shell: an xdist worker's variables would switch pytest-benchmark off in the child as well
    shell = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "benchmarks/test_bench_report.py::test_leaderboard", "--benchmark-only",
                           f"--benchmark-json={report}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=shell)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Benchmarks are automatically disabled" not in proc.stdout + proc.stderr
    (measured,) = json.loads(report.read_text())["benchmarks"]
    assert measured["name"] == "test_leaderboard" and measured["stats"]["rounds"] >= 1
