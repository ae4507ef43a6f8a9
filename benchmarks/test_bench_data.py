"""Parsing and preparing the full dataset from the four .gz files (md5 verification included)."""

from __future__ import annotations

from fmnist_bench.data import load_raw, make_splits


def test_load_and_split_full_dataset(benchmark) -> None:
    benchmark.group = "data"

    def prepare():
        return make_splits(load_raw(), seed=1, val_size=6000)

    splits = benchmark.pedantic(prepare, rounds=5, iterations=1, warmup_rounds=1)
    assert splits.x_train.shape == (54000, 28, 28)
