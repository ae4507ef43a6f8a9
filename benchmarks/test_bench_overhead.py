"""Harness overhead: the same 4 trials x 2 epochs through the harness's tuner and through plain keras-tuner.

The two studies run in alternating pairs inside one benchmark, so that both see the same machine. Measured
one after the other (all plain rounds, then all harness rounds), the ratio swung between 1.00 and 1.23 on the
shared 2-core machine within an hour, while alternating pairs gave 1.01: the noise comes in bursts that last
longer than a round.
"""

from __future__ import annotations

import itertools
import statistics
import time
from pathlib import Path

import keras
import keras_tuner as kt

from fmnist_bench.config import PRESETS
from fmnist_bench.spaces import AnnSpace
from fmnist_bench.strategies import build_tuner
from fmnist_bench.study import StudyRecorder

CFG = PRESETS["standard"].replace(epochs_per_trial=2, budget_epochs=8)  # 4 trials x 2 epochs
PAIRS = 5
_counter = itertools.count()


def _search(tuner, splits) -> None:
    tuner.search(splits.x_train[:20000], splits.y_train[:20000], validation_data=(splits.x_val, splits.y_val),
                 epochs=CFG.epochs_per_trial, batch_size=CFG.batch_size, verbose=0)
    assert len(tuner.oracle.trials) == 4


def _plain_study(splits, directory: Path) -> None:
    keras.utils.set_random_seed(1)
    tuner = kt.RandomSearch(AnnSpace(), objective="val_accuracy", max_trials=4, seed=1,
                            directory=str(directory), project_name=f"plain{next(_counter)}")
    _search(tuner, splits)


def _harness_study(splits, directory: Path) -> None:
    work = directory / f"harness{next(_counter)}"
    recorder = StudyRecorder(cfg=CFG, strategy="random", seed=1, records_dir=work / "records")
    tuner = build_tuner("random", cfg=CFG, seed=1, hypermodel=AnnSpace(), directory=str(work),
                        project_name="tuner", observer=recorder)
    _search(tuner, splits)


def test_study_overhead(benchmark, splits, tmp_path: Path) -> None:
    benchmark.group = "4 trials x 2 epochs (random search, 20k images)"
    seconds: dict[str, list[float]] = {"harness": [], "plain": []}
    orders = itertools.cycle([(("plain", _plain_study), ("harness", _harness_study)),
                              (("harness", _harness_study), ("plain", _plain_study))])

    def pair() -> None:  # one study of each; which goes first alternates from round to round
        for name, study in next(orders):
            start = time.perf_counter()
            study(splits, tmp_path)
            seconds[name].append(time.perf_counter() - start)

    benchmark.pedantic(pair, rounds=PAIRS, iterations=1, warmup_rounds=1)
    warm = {name: values[1:] for name, values in seconds.items()}  # the warm-up pair is not measured
    benchmark.extra_info["paired_seconds"] = warm
    benchmark.extra_info["ratio_of_medians"] = statistics.median(warm["harness"]) / statistics.median(warm["plain"])
