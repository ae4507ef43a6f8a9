"""Rendering the report (tables + figures) and the leaderboard of the committed standard run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fmnist_bench.reports import write_leaderboard
from fmnist_bench.reports import write_report

STORED = Path(__file__).resolve().parents[1] / "results" / "runs"


@pytest.fixture
def stored_run(tmp_path: Path) -> Path:
    source = next(p for p in sorted(STORED.iterdir()) if p.name.startswith("standard-"))
    target = tmp_path / "runs" / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".work", ".lock"))
    return target


def test_report(benchmark, stored_run: Path) -> None:
    benchmark.group = "rendering"
    benchmark.pedantic(write_report, args=(stored_run,), rounds=3, iterations=1, warmup_rounds=1)


def test_leaderboard(benchmark, stored_run: Path) -> None:
    benchmark.group = "rendering"
    benchmark.pedantic(write_leaderboard, args=(stored_run.parents[1],), rounds=5, iterations=1, warmup_rounds=1)
