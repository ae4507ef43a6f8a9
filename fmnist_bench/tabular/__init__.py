"""The tabular benchmark: every configuration of a grid space trained once per seed, then studies replayed on it.

`table` reads and writes the per-epoch curves, `build` trains them (resumably, in spawned processes), `selection`
chooses the configurations a cross-backend check trains, `validate` compares training seeds, `replay` drives
keras-tuner's own oracles over the table in seconds per study, and `regret` scores a study's choices against the
grid's best configuration.
"""

from .build import build_estimate, build_table, table_spec, user_spec
from .noise import run_table_noise
from .regret import regret_after
from .replay import run_replay
from .selection import backend_check_configs, read_chosen, write_chosen
from .table import Curve, Table, TableSpec, config_key, load_table, read_curves
from .validate import compare_seeds, write_validation

__all__ = ["Curve", "Table", "TableSpec", "backend_check_configs", "build_estimate", "build_table", "compare_seeds",
           "config_key", "load_table", "read_chosen", "read_curves", "regret_after", "run_replay", "run_table_noise",
           "table_spec", "user_spec", "write_chosen", "write_validation"]
