"""Runs read back from disk as typed records: a study's result with its trials and epochs (`StoredStudy`), a run with
its config, environment and complete studies (`StoredRun`).

Reading only, so that a report, the leaderboard or a notebook loads runs without a way to change one (`runs` writes
them). A run stored by an older version reads with every field it was stored without at its default.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import LEGACY_REFIT_SEEDS, RunConfig
from ..errors import ConfigError, ResultsError
from ..records import EpochRecord, StudyResult, TrialRecord
from .files import read_json, read_lines
from .layout import RunPaths, StudyPaths

__all__ = ["StoredRun", "StoredStudy", "load_run", "load_study", "read_config", "space_revision_of"]


def load_study(files: StudyPaths) -> StoredStudy:
    """A complete study: its result and the trial and epoch records (in trial order)."""
    records = read_json(files.records, "records")
    return StoredStudy.from_dict({"result": read_json(files.result, "study"), "trials": records["trials"],
                                  "epochs": records["epochs"]})


@dataclasses.dataclass(frozen=True)
class StoredStudy:
    result: StudyResult
    trials: list[TrialRecord]
    epochs: list[EpochRecord]

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result.to_dict(), "trials": [t.to_dict() for t in self.trials],
                "epochs": [e.to_dict() for e in self.epochs]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredStudy:
        return cls(StudyResult.from_dict(data["result"]), [TrialRecord.from_dict(t) for t in data["trials"]],
                   [EpochRecord.from_dict(e) for e in data["epochs"]])


@dataclasses.dataclass(frozen=True)
class StoredRun:
    """A run as read back from disk: only complete studies (those with a study.json) are included."""

    root: Path
    config: RunConfig  # with every field a run made before it existed at its default
    env: dict[str, Any]
    studies: list[StoredStudy]
    space_revision: int
    table_noise: dict[str, Any] | None = None  # a replay's bootstrap over its table's training runs, if made

    @property
    def space_label(self) -> str:
        """The space's name, with its revision from the second on (`ann r2`): old and new ranges never mix. A
        user's space (and data) by its label and fingerprints (`mlp-build_model-digits-load @3f2a1b0c/88282c7a`):
        an edited space or changed data is another benchmark."""
        cfg = self.config
        if cfg.is_user_space:
            prints = "/".join(p[:8] for p in (cfg.space_fingerprint, cfg.data_fingerprint) if p)
            return f"{cfg.space_label} @{prints}"
        return cfg.space if self.space_revision == 1 else f"{cfg.space} r{self.space_revision}"

    @property
    def strategies(self) -> list[str]:
        return [s for s in self.config.strategies if any(st.result.strategy == s for st in self.studies)]

    @property
    def seeds(self) -> list[int]:
        return sorted({st.result.seed for st in self.studies})


def space_revision_of(config_document: dict[str, Any]) -> int:
    """The space revision a run searched: runs stored before revisions existed searched revision 1."""
    return int(config_document.get("space_revision", 1))


def read_config(paths: RunPaths) -> RunConfig:
    """The run's config, every field it was stored without at its default.

    Raises:
        ResultsError: missing, unreadable, or not a config this version can read.
    """
    return _config_of(read_json(paths.config, "config"), paths.config)


def _config_of(document: dict[str, Any], path: Path) -> RunConfig:
    try:
        return RunConfig.from_dict({"refit_seeds": LEGACY_REFIT_SEEDS} | document["config"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise ResultsError(f"{path} holds no config this version can read ({exc})") from None


def load_run(run_dir: Path) -> StoredRun:
    """Read a run folder.

    Raises:
        ResultsError: not a run folder, unknown schema, or no complete study yet.
    """
    if not (run_dir / "config.json").is_file():
        raise ResultsError(f"{run_dir} is not a run folder (no config.json); run `python -m fmnist_bench run` first")
    paths = RunPaths(run_dir)
    document = read_json(paths.config, "config")  # read once: the config and the space revision beside it
    config = _config_of(document, paths.config)
    env = read_json(paths.env, "env") if paths.env.is_file() else {}
    studies = []
    if paths.studies_archive.is_file():
        studies = [StoredStudy.from_dict(d) for d in read_lines(paths.studies_archive)]
    for strategy in config.strategies:
        for seed in config.seeds:
            files = paths.study(strategy, seed)
            if files.result.is_file():
                studies.append(load_study(files))
    if not studies:
        raise ResultsError(f"{run_dir} has no complete study yet; finish it with the same `run` command")
    noise = read_json(paths.table_noise, "table-noise") if paths.table_noise.is_file() else None
    return StoredRun(run_dir, config, env, studies, space_revision_of(document), noise)
