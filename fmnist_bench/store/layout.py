"""Where each file and folder under a results folder lives: the one place that knows the layout.

    results/runs/<run-id>/config.json, env.json, summary.md, *.png
    results/runs/<run-id>/studies/<strategy>-seed<k>/study.json, trials.csv, epochs.csv, confusion.png
    results/runs/<run-id>/.work/        keras-tuner projects and per-trial records (git-ignored working state)
    results/runs/<run-id>/studies.jsonl.gz   a replayed run's studies, one per line (hundreds of small studies)
    results/runs/<run-id>/studies.partial.jsonl   ... while the replay is in progress (resumable)
    results/tables/<space>/table.json, seed<k>.jsonl.gz   a tabular benchmark (`TablePaths`)
    results/LEADERBOARD.md, answer.png, benchmarks/benchmarks.json

Names only: nothing here writes or reads a file's contents, so a results file's name is found, and changed, in one
place, whoever writes the file (`files`, `runs`, the reports) or reads it (`stored`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..records import study_name

__all__ = ["DEFAULT_RESULTS", "REFERENCE_RESULTS", "RunPaths", "StudyPaths", "TablePaths", "answer_figure_path",
           "benchmarks_json_path", "clone_relative", "leaderboard_path", "summary_link", "tables_dir_for"]

# A user's runs go to a folder that git ignores, so they never rewrite the results this repository ships
# (REFERENCE_RESULTS: `results/` beside the package in a clone, absent from an installed wheel), and never pool with
# runs made on other machines unless asked to (`leaderboard --also results`).
DEFAULT_RESULTS = Path("results") / "local"
REFERENCE_RESULTS = Path(__file__).resolve().parents[2] / "results"  # this file is <clone>/fmnist_bench/store/layout.py


def tables_dir_for(label: str, tables_dir: Path | None) -> Path:
    """The tables folder a replay of the table `label` reads: the one given, else the user's own
    (`<DEFAULT_RESULTS>/tables`) when it holds that table, else the shipped reference's."""
    if tables_dir is not None:
        return tables_dir
    own = DEFAULT_RESULTS / "tables"
    if (own / label / "table.json").is_file() or not (REFERENCE_RESULTS / "tables" / label / "table.json").is_file():
        return own
    return REFERENCE_RESULTS / "tables"


class RunPaths:
    """Where each file of a run lives; the one place that knows the layout."""

    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir
        self.config = run_dir / "config.json"
        self.env = run_dir / "env.json"
        self.summary = run_dir / "summary.md"
        self.studies = run_dir / "studies"
        self.work = run_dir / ".work"
        self.lock = run_dir / ".lock"
        self.chief_announcement = self.work / "chief.json"  # the study a chief serves now, for hand-started workers
        # the run's secret, which a chief asks of every caller: readable only by its owner, beside the announcement
        self.chief_token = self.work / "chief.token"
        # A replayed run holds hundreds of studies: one compressed file instead of a folder each; while the run is
        # in progress, finished studies are appended to the partial file (one fsync'd line each), which sits beside
        # the config rather than in .work so that a run stopped mid-way can be committed and resumed elsewhere.
        self.studies_archive = run_dir / "studies.jsonl.gz"
        self.studies_partial = run_dir / "studies.partial.jsonl"
        self.replay_log = self.work / "replay-workers.log"  # spawned replay processes' backend noise
        # A replayed run's comparisons replayed again on bootstrap resamples of its table (`tabular.noise`)
        self.table_noise = run_dir / "table_noise.json"
        self.table_noise_partial = run_dir / "table_noise.partial.jsonl"

    @classmethod
    def in_results(cls, results_dir: Path, run_id: str) -> RunPaths:
        return cls(results_dir / "runs" / run_id)

    def study_dir(self, strategy: str, seed: int) -> Path:
        return self.studies / study_name(strategy, seed)

    def study_work(self, strategy: str, seed: int) -> Path:
        return self.work / study_name(strategy, seed)

    def study(self, strategy: str, seed: int) -> StudyPaths:
        return StudyPaths(self.study_dir(strategy, seed), self.study_work(strategy, seed))

    @property
    def curves_epochs(self) -> Path:
        """Best validation accuracy against epochs spent, per strategy."""
        return self.root / "curves_epochs.png"

    @property
    def curves_time(self) -> Path:
        return self.root / "curves_time.png"

    @property
    def ranks(self) -> Path:
        """Anytime ranks over the budget (runs of 5 or more seeds)."""
        return self.root / "ranks.png"

    @property
    def critical_difference(self) -> Path:
        """The critical-difference diagram of final test accuracy (runs of 5 or more seeds)."""
        return self.root / "critical_difference.png"

    @property
    def curves_regret(self) -> Path:
        """A replayed run's simple regret against epochs spent."""
        return self.root / "curves_regret.png"

    def link(self, path: Path) -> str:
        """`path` as summary.md links it (relative to the run folder)."""
        return path.relative_to(self.root).as_posix()


@dataclasses.dataclass(frozen=True)
class StudyPaths:
    """One study's files: its committed records in `folder`, its working state in `work` (git-ignored)."""

    folder: Path
    work: Path

    @property
    def result(self) -> Path:
        """study.json, written last: a study is complete when it exists."""
        return self.folder / "study.json"

    @property
    def records(self) -> Path:
        return self.folder / "records.json"

    @property
    def trials_csv(self) -> Path:
        return self.folder / "trials.csv"

    @property
    def epochs_csv(self) -> Path:
        return self.folder / "epochs.csv"

    @property
    def confusion(self) -> Path:
        return self.folder / "confusion.png"

    @property
    def error_log(self) -> Path:
        """Tracebacks of unexpected errors (a bug, an unreadable project), kept for a report while the user sees one
        line."""
        return self.work / "errors.log"

    @property
    def tuner_project(self) -> Path:
        """keras-tuner's project folder (its oracle, trials and checkpoints)."""
        return self.work / "tuner"

    @property
    def trial_records(self) -> Path:
        """The harness's own record of each finished trial, one JSON file each."""
        return self.work / "records"

    def trial_record(self, number: int) -> Path:
        return self.trial_records / f"trial_{number:04d}.json"

    def stored_trial_records(self) -> dict[int, Path]:
        """The trial records on disk, by trial number."""
        return {int(p.stem.removeprefix("trial_")): p for p in sorted(self.trial_records.glob("trial_*.json"))}

    @property
    def search_clock(self) -> Path:
        """Wall seconds a chief's search has spent, summed over its processes."""
        return self.work / "search_wall.json"


class TablePaths:
    """Where each file of a tabular benchmark lives (`results/tables/<space>/`, see `fmnist_bench.tabular.table`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.spec = folder / "table.json"
        self.validation = folder / "VALIDATION.md"

    def curves(self, seed: int) -> Path:
        """A training seed's complete curves, written once its build is complete."""
        return self.folder / f"seed{seed}.jsonl.gz"

    def build(self, seed: int) -> Path:
        return self.folder / f"seed{seed}.json"

    def partial(self, seed: int) -> Path:
        """A build in progress: one fsync'd line per configuration (resumable; commit it to resume elsewhere)."""
        return self.folder / f"seed{seed}.partial.jsonl"

    def clock(self, seed: int) -> Path:
        return self.folder / f"seed{seed}.partial.clock.json"

    def worker_log(self, seed: int) -> Path:
        return self.folder / f".seed{seed}.workers.log"

    def complete_seeds(self) -> list[int]:
        return sorted(int(p.name.removeprefix("seed").split(".")[0]) for p in self.folder.glob("seed*.jsonl.gz"))


def clone_relative(path: str | Path) -> str:
    """A path inside this clone as seen from the clone's root (`results/tables/ann-grid`), so that what a run records
    and its summary prints name the same folder on every machine; any other path unchanged."""
    try:
        return Path(path).resolve().relative_to(REFERENCE_RESULTS.parent).as_posix()
    except ValueError:
        return str(path)


def leaderboard_path(results_dir: Path) -> Path:
    return results_dir / "LEADERBOARD.md"


def answer_figure_path(results_dir: Path) -> Path:
    """The README's answer as a figure (`reports.answer`), beside the leaderboard it summarises."""
    return results_dir / "answer.png"


def summary_link(run_root: Path, home: Path | None = None) -> str:
    """A run's summary relative to the leaderboard in the folder `home` (default: the run's own results folder, whose
    LEADERBOARD.md links runs/<id>/summary.md; a run of another folder, `leaderboard --also`'s, gets the path there)."""
    if home is None:
        return f"runs/{run_root.name}/summary.md"
    return Path(os.path.relpath(run_root / "summary.md", home)).as_posix()


def benchmarks_json_path(results_dir: Path) -> Path:
    """Where `pytest benchmarks --benchmark-json` is told to write (tox -e bench)."""
    return results_dir / "benchmarks" / "benchmarks.json"
