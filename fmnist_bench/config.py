"""Run configuration: one frozen record of everything that changes results, plus named presets.

Everything that can change a number in `results/` lives in `RunConfig`, so a run folder's `config.json` is enough
to reproduce it; options that only change *how* it runs (results folder, data folder, parallel jobs) stay outside.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from . import catalog
from .errors import ConfigError
from .sources import is_source, label_of, parse_source, space_label

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, published as the `tomli` backport (a dependency only there)
    import tomli as tomllib

__all__ = [
    "PRESETS",
    "PRESET_NOTES",
    "RunConfig",
    "SPACE_NAMES",
    "SPACE_REVISIONS",
    "STREAMS",
    "STRATEGY_NAMES",
    "DEFAULT_STRATEGIES",
    "OPTUNA_STRATEGIES",
    "DEFAULT_REPLAY_SEEDS",
    "in_tested_range",
    "require_optuna",
    "load_config_file",
    "make_config",
    "preset_config",
]

# Names, revisions and per-space presets come from the catalog: a new strategy or space is one entry there.
DEFAULT_STRATEGIES: tuple[str, ...] = catalog.default_strategies()
OPTUNA_STRATEGIES: tuple[str, ...] = catalog.strategies_needing("optuna")
# Replay seeds of `--replay` when --seeds is not given, and the fewest from which a replay's verdict states a
# difference (`reports.verdict.MIN_REPLAY_SEEDS`).
DEFAULT_REPLAY_SEEDS = 100
STRATEGY_NAMES: tuple[str, ...] = tuple(catalog.STRATEGIES)
OPTUNA_TESTED = ("4.0", "6")  # from the first (inclusive) to the second (exclusive): pyproject.toml pins the same
SPACE_NAMES: tuple[str, ...] = tuple(catalog.SPACES)
SPACE_REVISIONS: dict[str, int] = {name: entry.revision for name, entry in catalog.SPACES.items()}
TRAIN_POOL = 60_000  # images in the official training file, split into train + validation


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What a run computes. Budgets are counted in training epochs per study (one strategy x one seed).

    Attributes:
        preset: name of the preset this config started from (kept for the run id and the leaderboard).
        space: a built-in search space (`fmnist_bench.catalog`), or the user's own: `FILE.py:NAME` or
            `package.module:NAME`, a `build_model(hp)` function or a `keras_tuner.HyperModel` (docs/own-space.md).
        strategies: keras-tuner strategies to compare, in report order.
        seeds: one study per (strategy, seed); a seed fixes split, oracle and weight init. Must be >= 1.
        epochs_per_trial: epochs one configuration trains for (Hyperband's `max_epochs`).
        budget_epochs: training epochs each study may spend on its search.
        batch_size: mini-batch size for search and final fit.
        final_epochs: epochs of the final fit of the best configuration (early stopping may end it sooner).
        patience: early-stopping patience (epochs without val_accuracy gain) of the final fit.
        final_lr_decay: the final fit multiplies its learning rate by this after `lr_plateau_patience` epochs
            without val_accuracy gain (1.0: constant, as the original project). A CNN refit at the searched
            constant rate stalls while its validation accuracy still swings by a point from epoch to epoch.
        val_size: images held out of the 60k training file for validation.
        train_subset: use only this many training images (stratified); None for all.
        test_subset: evaluate on this many test images (stratified); None for all 10k.
        hyperband_factor: Hyperband's reduction factor.
        target_accuracy: validation accuracy whose first crossing the reports time; None (the default) takes the
            task's (Fashion-MNIST: the original project's 88.2%; a user's dataset has none).
        workers: keras-tuner workers that run a study's trials in parallel (chief/worker over gRPC; with `replay`,
            simulated workers on a simulated clock, `tabular.search`). Part of the config because with more than
            one, Hyperband's and Bayesian's choices depend on which trial ends first.
        streams: "paired" (default): on a seed, every strategy draws from the same random streams (oracle, weight
            init, refit), so their first random trials coincide: common random numbers, which make paired
            comparisons sharper but produce ties. "independent": each strategy's oracle, weights and refit get a
            stream of their own, derived from (strategy, seed); the data split still follows the seed alone.
        budget_seconds: a second budget per study, in seconds of search (trial wall time plus the oracle's own
            compute): the study stops creating trials once it is spent, or when the epoch budget is, whichever
            comes first. Results under a time budget depend on the machine that ran them. None: epochs only.
        refits: how many times the final fit trains the chosen configuration, each from its own initialisation;
            their spread is refit noise, apart from the quality of the choice. The first refit is the one every
            earlier run made, and its per-class scores are the ones reported.
        lr_plateau_patience: epochs without val_accuracy gain before the final fit decays its learning rate
            (only with final_lr_decay < 1).
        replay: trials read their epochs from the space's tabular benchmark (`fmnist_bench.tabular.table`) instead of
            training: keras-tuner's own oracles choose as in a live run, nothing is trained, and time is the
            table's recorded epoch seconds plus the oracle's own compute. Grid spaces only.
        refit_seeds: which training runs of the table a replayed final fit reads. "others" (the default): one final
            fit on every whole-grid table seed except the one the chosen trial read, the study scored by their
            mean, as a live final fit starts from a fresh initialisation instead of reusing the search's run.
            "drawn": `refits` final fits, each on a table seed drawn at random, the chosen trial's own included
            (the rule of every replay stored before it existed, which reads as missing). Replays only.
        table_seeds: replays only: read these whole-grid seeds of the table alone, for trials and final fits (for
            example the training runs of one backend, for the verdict on each backend's seeds); None: all of them.
        space_fingerprint: a user space's source fingerprint (`sources.Source.fingerprint`), set when the config is
            made (`with_fingerprints`): an edited space is another run. None for a built-in space.
        data: the user's dataset, `FILE.npz` or `FILE.py:NAME` (`fmnist_bench.datasets`); None: the space's task
            (Fashion-MNIST for every built-in space).
        data_fingerprint: the user dataset's fingerprint (`data.RawData.fingerprint`), set with `data`.
    """

    preset: str = "standard"
    space: str = "ann"
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    seeds: tuple[int, ...] = (1,)
    epochs_per_trial: int = 9
    budget_epochs: int = 90
    batch_size: int = 256
    final_epochs: int = 15
    patience: int = 3
    final_lr_decay: float = 1.0
    val_size: int = 6000
    train_subset: int | None = None
    test_subset: int | None = None
    hyperband_factor: int = 3
    target_accuracy: float | None = None
    workers: int = 1
    streams: str = "paired"
    refits: int = 1
    budget_seconds: float | None = None
    lr_plateau_patience: int = 2
    replay: bool = False
    refit_seeds: str = "others"
    table_seeds: tuple[int, ...] | None = None
    space_fingerprint: str | None = None
    data: str | None = None
    data_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.target_accuracy is None and self.data is None:  # the Fashion-MNIST task's reference
            object.__setattr__(self, "target_accuracy", catalog.TASKS[self.task].target_accuracy)
        _validate(self)

    @property
    def run_id(self) -> str:
        """A stable name: the same config always maps to the same folder, which is what makes resume work."""
        return f"{self.preset}-{self.space_label}{'-replay' if self.replay else ''}-{self.digest()[:8]}"

    @property
    def is_user_space(self) -> bool:
        return self.space not in catalog.SPACES

    @property
    def space_label(self) -> str:
        """The space's name in run ids: a built-in one's, or `<file stem>-<NAME>` for a user's (plus the data's
        label when it is the user's too)."""
        return space_label(self.space, self.data)

    @property
    def task(self) -> str:
        """The dataset the run reads: a built-in space's task, or the user's data by its label."""
        if self.data is not None:
            return label_of(self.data)
        return catalog.SPACES[self.space].task if not self.is_user_space else "fashion-mnist"

    @property
    def cells(self) -> list[tuple[str, int]]:
        """Every (strategy, seed) study of the run, seed by seed: the order runs, replays and dry runs go through."""
        return [(strategy, seed) for seed in self.seeds for strategy in self.strategies]

    @property
    def refits_on_other_seeds(self) -> bool:
        """A replay whose final fits read every table seed but the chosen trial's (`refit_seeds`)."""
        return self.replay and self.refit_seeds == "others"

    @property
    def space_revision(self) -> int:
        """A built-in space's revision; a user's space is identified by its fingerprint instead (revision 1)."""
        return SPACE_REVISIONS.get(self.space, 1)

    def digest(self) -> str:
        """sha256 of the canonical JSON form and the space's revision; a resumed run never mixes two configs.

        Revision 1 is left out of the hash so runs made before revisions existed keep their ids.
        """
        document = self.to_dict() | ({"space_revision": self.space_revision} if self.space_revision > 1 else {})
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON form; fields added later are left out at their defaults, so earlier runs keep their ids (and
        `refit_seeds` is left out of live runs, which it does not change, and at "drawn", the earlier replays')."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if _ELIDED_AT_DEFAULT.get(f.name, _KEEP) != getattr(self, f.name)
                and not (f.name == "refit_seeds" and not self.replay)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from JSON/TOML data, rejecting unknown keys and wrong types with a message that names them."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; expected some of: {', '.join(fields)}")
        return cls(**{name: _coerce(name, value) for name, value in data.items()})

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


_KEEP = object()
_ELIDED_AT_DEFAULT: dict[str, Any] = {"workers": 1, "final_lr_decay": 1.0, "streams": "paired", "refits": 1,
                                        "budget_seconds": None, "replay": False,
                                        "lr_plateau_patience": 2, "refit_seeds": "drawn", "table_seeds": None,
                                        "space_fingerprint": None, "data": None, "data_fingerprint": None}
STREAMS = ("paired", "independent")
REFIT_SEEDS = ("others", "drawn")
LEGACY_REFIT_SEEDS = "drawn"  # what a stored config without the key was replayed with


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


_INT_FIELDS = {"epochs_per_trial", "budget_epochs", "batch_size", "final_epochs", "patience", "val_size",
               "hyperband_factor", "workers", "refits", "lr_plateau_patience"}
_OPTIONAL_INT_FIELDS = {"train_subset", "test_subset"}


def _coerce(name: str, value: Any) -> Any:
    """Check a config file value's type; TOML/JSON lists become tuples."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"config key {name!r} must be {expected}, found {value!r}")

    if name in ("strategies", "seeds") or (name == "table_seeds" and value is not None):
        if not isinstance(value, list):
            raise bad("a list")
        return tuple(value)
    if name in _INT_FIELDS or (name in _OPTIONAL_INT_FIELDS and value is not None):
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad("an integer")
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "final_lr_decay" and not is_number:
        raise bad("a number")
    if name == "target_accuracy" and value is not None and not is_number:
        raise bad("a number")
    if name in ("space_fingerprint", "data", "data_fingerprint") and value is not None and not isinstance(value, str):
        raise bad("a string")
    if name == "budget_seconds" and value is not None and not is_number:
        raise bad("a number")
    if name == "replay" and not isinstance(value, bool):
        raise bad("true or false")
    if name in ("preset", "space", "streams", "refit_seeds") and not isinstance(value, str):
        raise bad("a string")
    return value


def _validate(cfg: RunConfig) -> None:
    if cfg.is_user_space and not is_source(cfg.space):
        raise ConfigError(f"unknown space {cfg.space!r}; choose one of: {', '.join(SPACE_NAMES)}, or your own as "
                          "FILE.py:NAME or package.module:NAME (docs/own-space.md)")
    if cfg.is_user_space and cfg.space_fingerprint is None:
        raise ConfigError(f"space {cfg.space} has no fingerprint; make the config with make_config or "
                          "with_fingerprints, which read the space's source")
    if cfg.data is not None and not cfg.is_user_space:
        raise ConfigError(f"the built-in space {cfg.space!r} is built for Fashion-MNIST (28x28 images, 10 classes); "
                          "for your own data, give your own --space FILE.py:NAME too (docs/own-space.md)")
    if cfg.data is not None and cfg.data_fingerprint is None:
        raise ConfigError(f"data {cfg.data} has no fingerprint; make the config with make_config or "
                          "with_fingerprints, which read the data")
    if not cfg.strategies:
        raise ConfigError("no strategies given; choose from: " + ", ".join(STRATEGY_NAMES))
    for name in cfg.strategies:
        if name not in STRATEGY_NAMES:
            raise ConfigError(f"unknown strategy {name!r}; choose from: {', '.join(STRATEGY_NAMES)}")
    if len(set(cfg.strategies)) != len(cfg.strategies):
        raise ConfigError(f"strategies repeat a name: {', '.join(cfg.strategies)}")
    if not cfg.seeds:
        raise ConfigError("no seeds given; seeds are integers >= 1, e.g. --seeds 1,2,3")
    for seed in cfg.seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 1:
            raise ConfigError(f"seeds must be integers >= 1 (keras-tuner treats 0 as 'random'), found {seed!r}")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds repeat a value: {cfg.seeds}")
    for name in ("epochs_per_trial", "batch_size", "final_epochs", "patience", "val_size", "workers", "refits",
                 "lr_plateau_patience"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, found {getattr(cfg, name)}")
    if cfg.budget_epochs < cfg.epochs_per_trial:
        raise ConfigError(
            f"budget of {cfg.budget_epochs} epochs is too small for one trial of {cfg.epochs_per_trial} epochs; "
            f"raise --budget-epochs to at least {cfg.epochs_per_trial}")
    if cfg.hyperband_factor < 2:
        raise ConfigError(f"hyperband_factor must be >= 2, found {cfg.hyperband_factor}")
    if cfg.data is None:  # Fashion-MNIST's sizes are known; a user dataset's are checked when it is split
        if cfg.val_size >= TRAIN_POOL - 100:
            raise ConfigError(f"val_size {cfg.val_size} leaves too few training images out of {TRAIN_POOL}")
        if cfg.train_subset is not None and not 100 <= cfg.train_subset <= TRAIN_POOL - cfg.val_size:
            raise ConfigError(f"train_subset must be between 100 and {TRAIN_POOL - cfg.val_size}, found "
                              f"{cfg.train_subset}")
        if cfg.test_subset is not None and not 100 <= cfg.test_subset <= 10_000:
            raise ConfigError(f"test_subset must be between 100 and 10000, found {cfg.test_subset}")
    if not 0.0 < cfg.final_lr_decay <= 1.0:
        raise ConfigError(f"final_lr_decay must be in (0, 1] (1 keeps the learning rate), found {cfg.final_lr_decay}")
    if cfg.budget_seconds is not None and not cfg.budget_seconds > 0:
        raise ConfigError(f"budget_seconds must be > 0, found {cfg.budget_seconds}")
    if cfg.streams not in STREAMS:
        raise ConfigError(f"streams must be one of {', '.join(STREAMS)}, found {cfg.streams!r}")
    if cfg.replay:
        _validate_replay(cfg)
    elif cfg.table_seeds is not None:
        raise ConfigError("table_seeds chooses the training runs a replay reads; it needs --replay")
    if cfg.target_accuracy is not None and not 0.0 < cfg.target_accuracy <= 1.0:
        raise ConfigError(f"target_accuracy must be in (0, 1], found {cfg.target_accuracy}")


def _validate_replay(cfg: RunConfig) -> None:
    grids = [name for name, entry in catalog.SPACES.items() if entry.grid is not None]
    if cfg.space in catalog.SPACES and cfg.space not in grids:
        raise ConfigError(f"--replay needs a grid space with a tabular benchmark ({', '.join(grids)}, or a grid of "
                          f"your own); {cfg.space!r} has none")
    if cfg.final_lr_decay != 1.0:
        raise ConfigError("--replay reads the final fit from the table, which has no learning-rate decay; "
                          "final_lr_decay must be 1")
    if cfg.train_subset is not None or cfg.test_subset is not None:
        raise ConfigError("--replay reads curves trained on the table's own split; leave train_subset and "
                          "test_subset out")
    if cfg.refit_seeds not in REFIT_SEEDS:
        raise ConfigError(f"refit_seeds must be one of {', '.join(REFIT_SEEDS)}, found {cfg.refit_seeds!r}")
    if cfg.table_seeds is not None and (
            not cfg.table_seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in cfg.table_seeds)
            or list(cfg.table_seeds) != sorted(set(cfg.table_seeds))):
        raise ConfigError(f"table_seeds must be increasing integers >= 1, e.g. 5,6,7; found {cfg.table_seeds!r}")
    if cfg.refit_seeds == "others" and cfg.refits != 1:
        raise ConfigError(f"a replay's final fits read every table seed but the chosen trial's own (one each), so "
                          f"refits {cfg.refits} does not apply; use --refit-seeds drawn for {cfg.refits} drawn ones")


PRESETS: dict[str, RunConfig] = {
    "smoke": RunConfig(preset="smoke", epochs_per_trial=2, budget_epochs=6, final_epochs=2, patience=1,
                       val_size=1000, train_subset=2000, test_subset=1000, batch_size=128),
    "quick": RunConfig(preset="quick", epochs_per_trial=3, budget_epochs=27, final_epochs=10),
    "standard": RunConfig(preset="standard"),
    "full": RunConfig(preset="full", seeds=(1, 2, 3, 4, 5), refits=3),
}

# What each preset is; how long each takes is measured and stated once, in the README's preset table.
PRESET_NOTES: dict[str, str] = {
    "smoke": "2k-image subset, 6 epochs per study, 2-epoch final fit: checks the pipeline",
    "quick": "all data, 27 epochs per study, 10-epoch final fit (cnn: 8 epochs per study, 5-epoch final fit)",
    "standard": "all data, 90 epochs per study, 15-epoch final fit (cnn: 30 epochs per study, 30-epoch final fit "
                "with learning-rate decay)",
    "full": "standard x 5 seeds, each winner refit 3 times (use --jobs, --workers or a GPU)",
}


def preset_config(preset: str, space: str = "ann", data: str | None = None) -> RunConfig:
    """A named preset for a search space (and dataset): the preset's budgets with that space's overrides, and the
    fingerprints of a user's space and data (`identity`).

    Raises:
        ConfigError: an unknown preset, or a user space or dataset that cannot be read.
        DataError: a user dataset that is missing or inconsistent.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    entry = catalog.SPACES.get(space)
    # the presets' subsets and target are Fashion-MNIST's; a user's dataset is read whole and has no target (its
    # budgets in epochs apply)
    sizes = {"train_subset": None, "test_subset": None, "target_accuracy": None} if data is not None else {}
    return PRESETS[preset].replace(space=space, **identity(space, data), **sizes,
                                   **(entry.presets.get(preset, {}) if entry else {}))


def identity(space: str, data: str | None) -> dict[str, Any]:
    """The config fields that identify a user's space and data by content: the space's source fingerprint and the
    dataset's (which loads it); and, for a dataset without a validation set of its own, the examples held out for
    one: a tenth of its training set, as Fashion-MNIST's 6,000 of 60,000. Empty for a built-in space on its own
    task.

    Raises:
        ConfigError: the space is neither built in nor FILE.py:NAME / package.module:NAME, or its file is missing.
        DataError: the dataset cannot be loaded or fails its checks.
    """
    fields: dict[str, Any] = {}
    if space not in catalog.SPACES:
        if not is_source(space):
            raise ConfigError(f"unknown space {space!r}; choose one of: {', '.join(SPACE_NAMES)}, or your own as "
                              "FILE.py:NAME or package.module:NAME (docs/own-space.md)")
        fields["space_fingerprint"] = parse_source(space, what="space").fingerprint()
    if data is not None:
        from .datasets import load_user_data

        raw = load_user_data(data)
        fields |= {"data": data, "data_fingerprint": raw.fingerprint()}
        if raw.x_val is None:
            fields["val_size"] = max(1, round(raw.y_train.size / 10))
    return fields


def make_config(preset: str, **overrides: Any) -> RunConfig:
    """Start from a named preset (for `space` and `data` if given) and apply CLI overrides (None means 'not
    given')."""
    changes = {key: value for key, value in overrides.items() if value is not None}
    return preset_config(preset, changes.pop("space", "ann"), changes.pop("data", None)).replace(**changes)


def load_config_file(path: Path) -> RunConfig:
    """Read a TOML config: optional `preset = "..."` first, every other key overrides that preset."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    preset, space, dataset = data.get("preset", "standard"), data.get("space", "ann"), data.get("data")
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r} in {path}; choose one of: {', '.join(PRESETS)}")
    if not isinstance(space, str) or (space not in SPACE_NAMES and not is_source(space)):
        raise ConfigError(f"unknown space {space!r} in {path}; choose one of: {', '.join(SPACE_NAMES)}, or "
                          "FILE.py:NAME")
    if dataset is not None and not isinstance(dataset, str):
        raise ConfigError(f"config key 'data' in {path} must be a string, found {dataset!r}")
    merged = preset_config(preset, space, dataset).to_dict() | data
    return RunConfig.from_dict(merged)


def in_tested_range(version: str, tested: tuple[str, str]) -> bool:
    """Whether `version` (its first three numbers) lies from tested[0] (inclusive) to tested[1] (exclusive): the
    ranges the tests ran with, for keras-tuner (`engine.ktbridge`) and Optuna."""
    def release(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", text)[:3])

    return release(tested[0]) <= release(version) < release(tested[1])


def require_optuna(strategies: tuple[str, ...]) -> None:
    """Check, without importing it, that Optuna is installed in the tested range when a strategy needs it.

    Raises:
        ConfigError: the `optuna` extra is missing, or its version is outside `OPTUNA_TESTED`.
    """
    from importlib import metadata

    wanted = [s for s in strategies if s in OPTUNA_STRATEGIES]
    if not wanted:
        return
    low, high = OPTUNA_TESTED
    try:
        version = metadata.version("optuna")
    except metadata.PackageNotFoundError:
        raise ConfigError(f"strategy {wanted[0]!r} is Optuna's; install the optional extra: pip install "
                          "'fmnist-bench[optuna]' (in a checkout: pip install -e '.[cpu,optuna]')") from None
    if not in_tested_range(version, OPTUNA_TESTED):
        raise ConfigError(f"optuna {version} is installed; fmnist-bench's {wanted[0]!r} is tested with "
                          f">={low},<{high}: pip install 'optuna>={low},<{high}'")
