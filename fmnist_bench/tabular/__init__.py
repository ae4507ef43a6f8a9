"""The tabular benchmark: every configuration of a grid space trained once per seed, then studies replayed on it.

`table` reads and writes the per-epoch curves, `build` trains them (resumably, in spawned processes), `validate`
compares training seeds, `replay` drives keras-tuner's own oracles over the table in seconds per study, and `regret`
scores a study's choices against the grid's best configuration.
"""
