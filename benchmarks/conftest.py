"""Benchmarks measure the real thing on the real data; compare harness vs plain Keras as ratios of one run."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def splits():
    from fmnist_bench.data import load_raw, make_splits

    return make_splits(load_raw(), seed=1, val_size=6000)


@pytest.fixture(scope="session", autouse=True)
def deterministic_tf() -> None:
    """The harness's study settings: op determinism on (which requires a seed), as in every study process."""
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(1)


TABLES = Path(__file__).resolve().parents[1] / "results" / "tables"


def replayed_bayesian_studies(results_dir: Path, *options: str) -> list[dict]:
    """`run --replay --strategies bayesian --seeds 4` on the committed table as a user runs it, with `options`
    (how many processes, threads, which cluster); its studies minus what measures time, for the benchmarks that
    assert a speed setting changes nothing else."""
    subprocess.run([sys.executable, "-m", "fmnist_bench", "-q", "run", "--space", "ann-grid", "--replay",
                    "--strategies", "bayesian", "--seeds", "4", *options,
                    "--results-dir", str(results_dir), "--tables-dir", str(TABLES)],
                   check=True, stdout=subprocess.DEVNULL)
    [archive] = results_dir.glob("runs/*/studies.jsonl.gz")
    studies = [json.loads(line) for line in gzip.open(archive, "rt")]
    return [{"result": {k: v for k, v in s["result"].items() if "seconds" not in k},
             "trials": [{k: v for k, v in t.items() if "seconds" not in k} for t in s["trials"]]} for s in studies]


def alternate_pairs(benchmark, first: tuple[str, Callable[[], None]], second: tuple[str, Callable[[], None]], *,
                    pairs: int) -> None:
    """Time A and B in alternating pairs (which goes first alternates) after one warm-up pair, and store each side's
    seconds per pair in extra_info["paired_seconds"]: benchreport takes the median of the per-pair ratios.

    Measured one after the other (all A rounds, then all B rounds), ratios on this shared 2-core machine swung
    between 1.00 and 1.23 within an hour: its noise comes in bursts longer than a round.
    """
    seconds: dict[str, list[float]] = {first[0]: [], second[0]: []}
    orders = itertools.cycle([(first, second), (second, first)])

    def pair() -> None:
        for name, run in next(orders):
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)

    benchmark.pedantic(pair, rounds=pairs, iterations=1, warmup_rounds=1)
    benchmark.extra_info["paired_seconds"] = {name: values[1:] for name, values in seconds.items()}  # no warm-up
