"""The Python API: what the command line does, for a notebook or a script, with typed results back.

```py
import fmnist_bench

result = fmnist_bench.compare("examples/digits/mlp.py:build_model", "examples/digits/digits.py:load",
                              preset="quick", seeds=3, jobs=2)
print(result.verdict)
result.table          # pandas DataFrame, one row per study
```

Studies run in their own processes, as from the command line, so a space is named by where its code lives: a
`build_model` function (or `keras_tuner.HyperModel` class) defined in a `.py` file or an importable module, or its
`FILE.py:NAME` string. Data may be arrays in memory: they are written once to an `.npz` named by their fingerprint
in the results folder.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import RunConfig, make_config
from .errors import ConfigError
from .processes import log_to_stderr
from .records import StudyResult
from .store import DEFAULT_RESULTS, StoredRun, atomic_write_bytes, load_run, tables_dir_for

__all__ = ["Comparison", "build_table", "compare", "load"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One run's studies and what they say.

    Attributes:
        run_id: the run's folder name (the same arguments give the same id: calling again resumes).
        path: the run's folder (`summary.md`, figures, every study's records).
        config: everything that decided the numbers.
        studies: one result per (strategy, seed) study, strategy by strategy, seed by seed.
        verdict: the run's verdict sentence, worded by the README's rules (no claim from one seed).
        failed: one line per study that ended without a result.
    """

    run_id: str
    path: Path
    config: RunConfig
    studies: list[StudyResult]
    verdict: str
    failed: list[str] = dataclasses.field(default_factory=list)

    @property
    def table(self) -> Any:
        """The studies as a pandas DataFrame: strategy, seed, validation and test accuracy, macro F1, epochs,
        trials, search and final-fit seconds, and the chosen hyperparameters."""
        import pandas as pd

        return pd.DataFrame([{"strategy": s.strategy, "seed": s.seed, "val_accuracy": s.best_val_accuracy,
                              "test_accuracy": s.test.accuracy, "macro_f1": s.test.macro_f1,
                              "epochs": s.epochs_trained, "trials": s.trials, "search_seconds": s.search_seconds,
                              "final_fit_seconds": s.final_fit_seconds, **s.best_params} for s in self.studies])

    @classmethod
    def of(cls, run: StoredRun, failed: list[str] | None = None) -> Comparison:
        from .reports.leaderboard import verdict_sentence

        return cls(run.root.name, run.root, run.config, [st.result for st in run.studies],
                   verdict_sentence(run).replace("**", ""), failed or [])


def _show_progress() -> None:
    """Progress lines on stderr, as the command line prints them, unless the caller has set up logging itself (as
    Optuna does: a long comparison that prints nothing looks hung)."""
    if not logging.getLogger().handlers and not logging.getLogger("fmnist_bench").handlers:
        log_to_stderr(logging.INFO)


def compare(space: Any, data: Any = None, *, preset: str = "standard", strategies: Sequence[str] | None = None,
            seeds: int | Sequence[int] = 1, budget_epochs: int | None = None, epochs_per_trial: int | None = None,
            final_epochs: int | None = None, replay: bool = False, results_dir: Path | str = DEFAULT_RESULTS,
            tables_dir: Path | str | None = None, jobs: int = 1, data_dir: Path | str | None = None) -> Comparison:
    """Run every strategy on `space` under one budget, seed by seed, and return what they found.

    Args:
        space: a built-in space's name (`"ann"`), `"FILE.py:NAME"`, or the `build_model(hp)` function or HyperModel
            class itself (defined in a `.py` file: see the module's docstring).
        data: None for Fashion-MNIST; `"FILE.npz"` or `"FILE.py:NAME"`; or the arrays themselves, as a dict
            (`x_train`, `y_train`, `x_test`, `y_test`, optionally `x_val`, `y_val`, `class_names`) or as Keras's
            `((x_train, y_train), (x_test, y_test))`.
        preset: the starting budgets (`smoke`, `quick`, `standard`, `full`; see `python -m fmnist_bench run -h`).
        strategies: names from `fmnist_bench.catalog.STRATEGIES`; None for keras-tuner's three.
        seeds: N for seeds 1..N, or the seeds themselves.
        budget_epochs, epochs_per_trial, final_epochs: override the preset's.
        replay: read every trial from the space's table instead of training (a grid with a built table).
        results_dir: where the run folder goes (default: `results/local`, which git ignores).
        tables_dir: the tables a replay reads (default: yours, else the shipped ones).
        jobs: studies (or replay processes) at once.
        data_dir: Fashion-MNIST's folder, when it is not found by itself.

    Returns:
        The run's `Comparison`; a run that exists already is resumed, and only what it lacks is run.

    Raises:
        ConfigError, DataError: bad arguments, a space or dataset that cannot be used (one line each).
        ResultsError: the results folder cannot be written.
    """
    _show_progress()
    results = Path(results_dir)
    cfg = make_config(preset, space=space_spec(space), data=data_spec(data, results), budget_epochs=budget_epochs,
                      epochs_per_trial=epochs_per_trial, final_epochs=final_epochs, replay=replay or None,
                      strategies=tuple(strategies) if strategies is not None else None,
                      seeds=tuple(range(1, seeds + 1)) if isinstance(seeds, int) else tuple(seeds))
    from .config import require_optuna

    require_optuna(cfg.strategies)
    if cfg.replay:
        from .tabular.replay import run_replay

        outcome = run_replay(cfg, results_dir=results, jobs=jobs, in_process=False,
                             tables_dir=tables_dir_for(cfg.space_label, Path(tables_dir) if tables_dir else None))
    else:
        from .orchestration.runner import run_benchmark

        outcome = run_benchmark(cfg, results_dir=results, jobs=jobs,
                                data_dir=Path(data_dir) if data_dir is not None else None)
    from .reports.leaderboard import write_leaderboard
    from .reports.summary import write_report

    if outcome.results:
        write_report(outcome.paths.root)
        write_leaderboard(results)
    return Comparison.of(load_run(outcome.paths.root), outcome.failed)


def load(run: str | Path, results_dir: Path | str = DEFAULT_RESULTS) -> Comparison:
    """A stored run, by its folder or its id under `results_dir` (`load("smoke-ann-c8cc5e4b", "results")` reads
    a run this repository ships).

    Raises:
        ResultsError: not a run folder, or no complete study in it.
    """
    folder = Path(run)
    if not (folder / "config.json").is_file():
        folder = Path(results_dir) / "runs" / str(run)
    return Comparison.of(load_run(folder))


def build_table(space: Any, data: Any = None, *, seeds: Sequence[int] = (1,), results_dir: Path | str =
                DEFAULT_RESULTS, tables_dir: Path | str | None = None, jobs: int = 1,
                data_dir: Path | str | None = None) -> Path:
    """Train every configuration of a grid space once per seed (the table `compare(..., replay=True)` reads).

    Args:
        space, data: as for `compare`; the space must be a grid (every hyperparameter discrete).
        seeds: the training seeds to build (two or more for replays whose final fits read other runs).
        results_dir: where `data` given as arrays is stored.
        tables_dir: where the table goes (default: `results/local/tables`).
        jobs: configurations trained at once.
        data_dir: Fashion-MNIST's folder, when it is not found by itself.

    Returns:
        The table's folder.

    Raises:
        ConfigError: the space is not a grid, or cannot be used; DataError: the data cannot.
    """
    from .tabular.build import build_table as build, table_spec

    spec_space, spec_data = space_spec(space), data_spec(data, Path(results_dir))
    fmnist = Path(data_dir) if data_dir is not None else None
    spec = table_spec(spec_space, spec_data, fmnist)
    _show_progress()
    folder = Path(tables_dir) if tables_dir is not None else DEFAULT_RESULTS / "tables"
    for seed in seeds:
        build(spec, seed, tables_dir=folder, data_dir=fmnist, device="auto", jobs=jobs, threads=1,
              progress=lambda line: log.info("%s", line))
    return folder / spec.label


def space_spec(space: Any) -> str:
    """`FILE.py:NAME` for a function or class defined in a file; a string as given.

    Raises:
        ConfigError: an object without a file (defined in a notebook cell or the interpreter).
    """
    if isinstance(space, str):
        return space
    name = getattr(space, "__qualname__", None)
    try:
        source = inspect.getsourcefile(space)
    except TypeError:
        source = None
    if name is None or "." in name or source is None or not source.endswith(".py") or not Path(source).is_file():
        raise ConfigError(f"{space!r} is not defined at the top of a .py file; studies run in their own processes, "
                          "which import the space from its file: put it in one (in a notebook: %%writefile "
                          "my_space.py, then import it) or pass 'FILE.py:NAME'")
    return f"{source}:{name}"


def data_spec(data: Any, results_dir: Path) -> str | None:
    """None, a `FILE.npz` / `FILE.py:NAME` string as given, or arrays written to `<results_dir>/data/<fingerprint>.npz`
    (once: the same arrays give the same file)."""
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, Path):
        return str(data)
    import io

    import numpy as np

    from .datasets import checked_arrays

    raw = checked_arrays(data, "the arrays given")
    path = results_dir / "data" / f"{raw.fingerprint()}.npz"
    if not path.is_file():
        arrays: Mapping[str, Any] = {"x_train": raw.x_train, "y_train": raw.y_train, "x_test": raw.x_test,
                                     "y_test": raw.y_test, "class_names": np.array(raw.class_names)}
        if raw.x_val is not None:
            arrays = {**arrays, "x_val": raw.x_val, "y_val": raw.y_val}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())
    return str(path)
