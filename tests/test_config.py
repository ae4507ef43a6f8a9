from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fmnist_bench.config import DEFAULT_STRATEGIES, PRESETS, RunConfig, load_config_file, make_config
from fmnist_bench.errors import ConfigError


def test_presets_are_valid_and_named() -> None:
    assert set(PRESETS) == {"smoke", "quick", "standard", "full"}
    assert all(cfg.preset == name for name, cfg in PRESETS.items())
    assert len(PRESETS["full"].seeds) >= 5


def test_run_id_is_stable_and_follows_the_config() -> None:
    assert make_config("smoke").run_id == make_config("smoke").run_id
    assert make_config("smoke").run_id != make_config("smoke", budget_epochs=8).run_id
    assert make_config("smoke").run_id.startswith("smoke-ann-")


@pytest.mark.parametrize(("changes", "message"), [
    pytest.param({"strategies": ("random", "grid")}, "unknown strategy 'grid'", id="strategy"),
    pytest.param({"space": "vit"}, "unknown space 'vit'", id="space"),
    pytest.param({"seeds": (0,)}, "seeds must be integers >= 1", id="seed-zero"),
    pytest.param({"seeds": (1.5,)}, "seeds must be integers >= 1", id="seed-float"),
    pytest.param({"seeds": (1, 1)}, "repeat", id="seed-repeat"),
    pytest.param({"budget_epochs": 1, "epochs_per_trial": 3}, "too small for one trial", id="budget"),
    pytest.param({"batch_size": 0}, "batch_size must be >= 1", id="batch"),
    pytest.param({"final_lr_decay": 0.0}, r"final_lr_decay must be in \(0, 1\]", id="decay-zero"),
    pytest.param({"final_lr_decay": 1.5}, r"final_lr_decay must be in \(0, 1\]", id="decay-growth"),
])
def test_invalid_configs_say_what_is_wrong(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PRESETS["smoke"].replace(**changes)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'huge'; choose one of: smoke, quick, standard, full"):
        make_config("huge")


def test_config_file_overrides_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('preset = "smoke"\nstrategies = ["random"]\nbudget_epochs = 8\n')
    cfg = load_config_file(path)
    assert cfg.preset == "smoke" and cfg.strategies == ("random",) and cfg.budget_epochs == 8
    assert cfg.train_subset == PRESETS["smoke"].train_subset


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("budget = 3\n", "unknown config key.*budget", id="unknown-key"),
    pytest.param('budget_epochs = "many"\n', "'budget_epochs' must be an integer", id="wrong-type"),
    pytest.param('seeds = 3\n', "'seeds' must be a list", id="wrong-list"),
    pytest.param('final_lr_decay = "fast"\n', "'final_lr_decay' must be a number", id="wrong-number"),
    pytest.param("budget_epochs = \n", "not valid TOML", id="bad-toml"),
])
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config_file(path)


def test_roundtrip_through_dict() -> None:
    cfg = PRESETS["quick"]
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    assert tuple(cfg.to_dict()["strategies"]) == DEFAULT_STRATEGIES  # keras-tuner's three; Optuna's when asked


def test_cnn_presets_get_cpu_sized_budgets_under_the_same_names(tmp_path: Path) -> None:
    ann, cnn = make_config("standard"), make_config("standard", space="cnn")
    assert cnn.space == "cnn" and cnn.budget_epochs < ann.budget_epochs and cnn.run_id.startswith("standard-cnn-")
    assert make_config("standard", space="cnn", budget_epochs=60).budget_epochs == 60  # flags still win
    path = tmp_path / "c.toml"
    path.write_text('preset = "standard"\nspace = "cnn"\n')
    assert load_config_file(path) == cnn


def test_space_revision_changes_the_run_id_but_revision_one_keeps_old_ids() -> None:
    cfg = make_config("standard")
    assert cfg.space_revision == 2
    plain = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()
    assert cfg.digest() != plain  # ann r2 never resumes or mixes with an ann r1 run
    cnn = make_config("standard", space="cnn")
    assert cnn.space_revision == 1
    assert cnn.digest() == hashlib.sha256(json.dumps(cnn.to_dict(), sort_keys=True).encode()).hexdigest()


def test_workers_is_part_of_the_config_but_absent_at_its_default() -> None:
    serial, parallel = make_config("smoke"), make_config("smoke", workers=2)
    assert "workers" not in serial.to_dict() and parallel.to_dict()["workers"] == 2
    assert serial.run_id != parallel.run_id
    assert RunConfig.from_dict(parallel.to_dict()) == parallel and RunConfig.from_dict(serial.to_dict()) == serial
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        make_config("smoke", workers=0)


def test_the_final_fit_learning_rate_decay_is_elided_at_its_default_and_set_for_the_cnn_standard_preset() -> None:
    constant, decayed = make_config("smoke"), make_config("smoke", final_lr_decay=0.2)
    assert "final_lr_decay" not in constant.to_dict() and decayed.to_dict()["final_lr_decay"] == 0.2
    assert constant.run_id != decayed.run_id and RunConfig.from_dict(decayed.to_dict()) == decayed
    assert make_config("standard").run_id == "standard-ann-61c28e0f"  # the committed ann run keeps its id
    cnn = make_config("standard", space="cnn")
    assert (cnn.final_epochs, cnn.patience, cnn.final_lr_decay) == (30, 5, 0.2)


def test_streams_are_paired_by_default_without_changing_run_ids_and_checked() -> None:
    from fmnist_bench.config import PRESETS, RunConfig
    from fmnist_bench.errors import ConfigError

    assert "streams" not in PRESETS["standard"].to_dict()  # earlier runs keep their ids
    independent = PRESETS["standard"].replace(streams="independent")
    assert independent.to_dict()["streams"] == "independent" and independent.run_id != PRESETS["standard"].run_id
    with pytest.raises(ConfigError, match="streams must be one of paired, independent"):
        RunConfig(streams="shuffled")


def test_refits_default_to_one_without_changing_run_ids_and_full_refits_three_times() -> None:
    from fmnist_bench.config import PRESETS, RunConfig, make_config
    from fmnist_bench.errors import ConfigError

    assert "refits" not in PRESETS["standard"].to_dict()
    assert make_config("full").refits == 3 and make_config("full", space="cnn").refits == 3
    with pytest.raises(ConfigError, match="refits must be >= 1"):
        RunConfig(refits=0)


def test_a_stored_config_reads_back_typed_with_every_later_field_at_its_default(tmp_path) -> None:
    """Readers never re-implement defaults: a config stored before workers, refits, streams, time budgets or the
    plateau patience existed reads back as a RunConfig holding their defaults."""
    from fmnist_bench.errors import ResultsError
    from fmnist_bench.store import RunPaths, atomic_write_json, load_run

    old = PRESETS["smoke"].to_dict()  # as runs stored it: fields at their defaults left out
    paths = RunPaths(tmp_path / "old")
    atomic_write_json(paths.config, "config", {"config": old})
    with pytest.raises(ResultsError, match="no complete study"):  # the config itself was read
        load_run(paths.root)
    assert RunConfig.from_dict(old) == PRESETS["smoke"]
    assert (PRESETS["smoke"].workers, PRESETS["smoke"].lr_plateau_patience, PRESETS["smoke"].replay) == (1, 2, False)
    # the plateau patience changes final fits, so it is part of the config: a new value is a new run id
    assert PRESETS["smoke"].replace(lr_plateau_patience=4).run_id != PRESETS["smoke"].run_id
    atomic_write_json(paths.config, "config", {"config": old | {"bogus": 1}})
    with pytest.raises(ResultsError, match="no config this version can read"):
        load_run(paths.root)
