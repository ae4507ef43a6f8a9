"""Table noise: how far a replayed comparison moves when the table's own training runs are redrawn.

Every replay seed of a run reads the same k training runs per configuration, so the run's intervals over replay
seeds describe that table, not the strategies on this space. A bootstrap over training runs puts that noise back:
each resample redraws, for every configuration independently, k of its k runs with replacement (pseudo-seeds
1..k), replays the run's studies' searches on that table, reads their final fits from the original runs other than
the one the chosen trial read (a bootstrap table may hold that run under two pseudo-seeds; a final fit on it would
score the choice on the run that chose it), and resamples the replay seeds too; the 2.5 and 97.5 percentiles
of the paired mean difference over resamples are the table-noise interval (`stats.resample_interval`). With k = 3-5
runs a bootstrap under-states the spread of new training runs by about (k-1)/k, so the interval is still a lower
bound on the noise of a fresh table.

Random search, Hyperband, ASHA and the TPE variants replay in well under a second per search, so they are resampled
by default; keras-tuner's Bayesian optimisation costs 4-12 s per search even with the replay's shortcuts (10-30 hours
on one core for 100 resamples of 100 seeds) and is resampled only when asked for
(`catalog.StrategyEntry.cheap_replay`). The resamples are stored beside the run (`table_noise.json`, appended as
they finish to a partial file, so a kill loses at most those in flight and the same command resumes).
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import catalog
from ..config import RunConfig
from ..errors import StudyFailed
from ..tabular.table import Table

__all__ = ["DEFAULT_NOISE_STRATEGIES", "FINAL_FITS", "resampled_table", "run_table_noise"]

log = logging.getLogger(__name__)
# How a resample's final fits pick their runs, stored in its document: documents made before lack it (their final
# fits could read the chosen trial's own run again); the verdict counts only these, and the replay command redoes
# the others.
FINAL_FITS = "original runs but the chosen trial's"
DEFAULT_NOISE_STRATEGIES = tuple(name for name, entry in catalog.STRATEGIES.items() if entry.cheap_replay)


def resampled_table(table: Table, draw: int) -> Table:
    """A bootstrap replicate of the table's whole-grid training runs: configuration by configuration, k runs drawn
    with replacement from its k (fixed by `draw` and the configuration, so a resample is the same in any process)."""
    seeds = table.seeds
    curves: dict[int, dict[str, Any]] = {j: {} for j in range(1, len(seeds) + 1)}
    for key in sorted(table.curves[seeds[0]]):
        rng = np.random.default_rng([draw, *key.encode()])
        for j, seed in enumerate(rng.choice(seeds, size=len(seeds), replace=True), start=1):
            curves[j][key] = table.curves[int(seed)][key]
    return Table(folder=table.folder, spec=table.spec, curves=curves, builds={})


def _resample_scores(cfg: RunConfig, strategies: tuple[str, ...], draw: int) -> dict[str, Any]:
    """Every study of the run's seeds for `strategies`, replayed on resample `draw`: their scores (None for a study
    whose trials all failed)."""
    from ..tabular.replay import REPLAY_TABLE, replay_study

    table = resampled_table(REPLAY_TABLE["table"], draw)
    scores: dict[str, list[float | None]] = {}
    for strategy in strategies:
        scores[strategy] = []
        for seed in cfg.seeds:
            try:
                scores[strategy].append(replay_study(cfg, strategy, seed, table, final_table=REPLAY_TABLE["table"],
                                                     held_out=False)[0].mean_test_accuracy)
            except StudyFailed:
                scores[strategy].append(None)
    return {"draw": draw, "scores": scores}


def run_table_noise(cfg: RunConfig, *, results_dir: Path, tables_dir: Path, run_id: str | None = None,
                    resamples: int, strategies: tuple[str, ...], jobs: int = 1, threads: int | None = None,
                    scheduler: str | None = None) -> dict[str, Any]:
    """Replay the studies of `strategies` of the replayed run of `cfg` on `resamples` bootstrap tables (what its
    `table_noise.json` lacks), on `jobs` local processes or the Dask cluster at `scheduler`; return the document.

    Raises:
        TableError: no usable table. ResultsError: the run folder is unusable or locked.
        ClusterError: the scheduler cannot be reached, or a worker cannot replay.
    """
    from ..cluster import connected
    from ..store import RunPaths, run_lock
    from ..tabular.replay import load_replay_table

    table = load_replay_table(cfg, tables_dir)
    paths = RunPaths.in_results(results_dir, run_id or cfg.run_id)
    with connected(scheduler) as client, run_lock(paths):
        return _resample(cfg, paths, table, resamples=resamples, strategies=strategies, jobs=jobs, threads=threads,
                         client=client)


def _resample(cfg: RunConfig, paths: Any, table: Table, *, resamples: int, strategies: tuple[str, ...], jobs: int,
              threads: int | None, client: Any) -> dict[str, Any]:
    from ..cluster import farm
    from ..environment import software_identity
    from ..markdown import fmt_seconds
    from ..store import append_document, atomic_write_json, read_json, read_lines
    from ..tabular.replay import init_replayer, replay_threads

    header = {"resamples": resamples, "strategies": list(strategies), "seeds": list(cfg.seeds),
              "table_seeds": table.seeds, "final_fits": FINAL_FITS}
    if paths.table_noise.is_file():
        stored = read_json(paths.table_noise, "table-noise")
        if {k: stored.get(k) for k in header} == header:
            return stored
    kept = [d for d in read_lines(paths.table_noise_partial)] if paths.table_noise_partial.is_file() else []
    done = {d["draw"]: d for d in kept if set(d["scores"]) == set(strategies)}
    pending = [d for d in range(1, resamples + 1) if d not in done]
    log.info("table noise of %s: %d resamples of %s x %d seeds over training runs %s, %d already done",
             paths.root.name, resamples, "/".join(strategies), len(cfg.seeds), table.seeds, len(done))
    start = last = time.perf_counter()
    for number, (draw, future) in enumerate(farm(
            functools.partial(_resample_scores, cfg, strategies), pending, jobs=jobs,
            threads=replay_threads(jobs, threads, client) or 1, initializer=init_replayer,
            initargs=(table,),
            log=paths.replay_log, client=client, identity=software_identity), 1):
        done[draw] = future.result()
        append_document(paths.table_noise_partial, done[draw])
        now = time.perf_counter()
        if now - last >= 5 or number == len(pending):
            last = now
            log.info("table noise of %s: %d/%d resamples, %s elapsed, ETA %s", paths.root.name, len(done),
                     resamples, fmt_seconds(now - start), fmt_seconds((now - start) / number * (len(pending) - number)))
    document = header | {"draws": [done[d] for d in range(1, resamples + 1)]}
    atomic_write_json(paths.table_noise, "table-noise", document)
    paths.table_noise_partial.unlink(missing_ok=True)
    return document
