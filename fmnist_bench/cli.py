"""The command line: `python -m fmnist_bench run | chief | worker | report | leaderboard | benchmarks | data | table`.

It parses arguments and dispatches; the work happens below. Every user error becomes one line on stderr and exit
code 2; a study that fails makes `run` exit 1 after the other studies finish; Ctrl-C stops the run promptly with exit
code 130 and says how to resume. Child processes have their own entry point (`child`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable

from . import __version__, catalog
from .config import DEFAULT_REPLAY_SEEDS, DEFAULT_STRATEGIES, PRESET_NOTES, PRESETS, REFIT_SEEDS, SPACE_NAMES, \
    STRATEGY_NAMES, STREAMS, RunConfig, identity, load_config_file, make_config, require_optuna
from .errors import ConfigError, FmnistBenchError, report_error
from .processes import EXIT_FAILED, EXIT_INTERRUPTED, log_to_stderr
from .sources import is_source, space_label
from .engine.runtime import DEVICES
from .store import DEFAULT_RESULTS, leaderboard_path, tables_dir_for

__all__ = ["main"]

log = logging.getLogger("fmnist_bench")
# The name the user typed: the installed console script, or the module
PROG = "fmnist-bench" if Path(sys.argv[0]).name == "fmnist-bench" else "python -m fmnist_bench"
FINAL_TABLE_ROWS = 30  # a replay of 100 seeds has 300 studies: their table is in the summary, not the terminal
DATA_DIR_HELP = ("folder with the four Fashion-MNIST *-ubyte.gz files (default: $FMNIST_DATA_DIR, "
                 "~/.keras/datasets/fashion-mnist, then /usr/share/datasets/fashion-mnist)")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{message} (see {self.prog} --help)")


def _strategies(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name not in STRATEGY_NAMES:
            raise argparse.ArgumentTypeError(f"unknown strategy {name!r}; choose from {','.join(STRATEGY_NAMES)}")
    return names


def _space(text: str) -> str:
    if text not in SPACE_NAMES and not is_source(text):
        raise argparse.ArgumentTypeError(f"unknown space {text!r}; choose from {','.join(SPACE_NAMES)}, or give "
                                         "your own as FILE.py:NAME or package.module:NAME")
    return text


def _seeds(text: str) -> tuple[int, ...]:
    """'5' means seeds 1..5; '3,7' means exactly seeds 3 and 7."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers >= 1, e.g. 5 or 1,2,3; found {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"seeds must be integers >= 1, e.g. 5 or 1,2,3; found {text!r}")
    return tuple(range(1, values[0] + 1)) if "," not in text else tuple(values)


def _table_seeds(text: str) -> tuple[int, ...]:
    """'5,6,7' (in any order) means table seeds 5, 6 and 7."""
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        values = []
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"table seeds are integers >= 1, e.g. 5,6,7; found {text!r}")
    return tuple(values)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, found {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, found {text!r}")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port between 1 and 65535, found {value}")
    return value


def _address(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port between 1 and 65535, found {text!r}")
    return text


def _preset_default(field: str) -> str:
    """'(default: from the preset: smoke 6, quick 27, standard 90, full 90)' for an ann run (cnn: see --help's
    presets)."""
    return "(default for ann, from the preset: " + ", ".join(f"{name} {getattr(cfg, field)}" for name, cfg in
                                                     PRESETS.items()) + ")"


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options that define what a run computes, shared by `run` and `chief`."""
    parser.add_argument("--preset", choices=list(PRESETS), default="standard",
                        metavar="{" + ",".join(PRESETS) + "}", help="starting configuration (default: standard)")
    parser.add_argument("--config", type=Path, help="TOML file with config keys (overrides the preset)")
    parser.add_argument("--space", type=_space,
                        help=f"search space: {', '.join(SPACE_NAMES)} (default: ann), or your own build_model(hp) "
                             "or HyperModel as FILE.py:NAME or package.module:NAME (docs/own-space.md)")
    parser.add_argument("--data", help="your own dataset instead of Fashion-MNIST: FILE.npz with x_train, y_train, "
                                       "x_test, y_test (optional: x_val, y_val, class_names), or FILE.py:NAME, a "
                                       "function returning them (docs/own-space.md)")
    parser.add_argument("--val-size", type=_positive,
                        help="validation examples held out of the training set when the data has no x_val "
                             "(default: 6000)")
    parser.add_argument("--strategies", type=_strategies,
                        help=f"comma-separated subset of: {_STRATEGY_HELP} (default: {','.join(DEFAULT_STRATEGIES)})")
    parser.add_argument("--seeds", type=_seeds,
                        help="N for seeds 1..N, or a list like 3,7 (default: 1; full: 5; with --replay: "
                             f"{DEFAULT_REPLAY_SEEDS}, as many as a replay's verdict needs)")
    parser.add_argument("--budget-epochs", type=_positive,
                        help="training epochs each study may spend searching (same for every strategy) "
                             + _preset_default("budget_epochs"))
    parser.add_argument("--budget-seconds", type=_positive_seconds,
                        help="also stop each study's search once it has spent this many seconds (trial wall time "
                             "plus the oracle's compute), whichever budget is spent first; machine-dependent")
    parser.add_argument("--epochs-per-trial", type=_positive,
                        help="epochs one configuration trains for; Hyperband's max_epochs "
                             + _preset_default("epochs_per_trial"))
    parser.add_argument("--batch-size", type=_positive,
                        help="mini-batch size for search and final fit " + _preset_default("batch_size"))
    parser.add_argument("--final-epochs", type=_positive,
                        help="epochs of the final fit of the best configuration " + _preset_default("final_epochs"))
    parser.add_argument("--workers", type=_positive,
                        help="keras-tuner workers per study, running trials in parallel (default: 1). With run: "
                             "started here on 127.0.0.1; with run --replay: simulated workers on a simulated clock "
                             "(docs/parallel.md); with chief: how many you will start")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS,
                        help=f"results folder (default: {DEFAULT_RESULTS}, which git ignores; the results this "
                             "repository ships are in results/: --results-dir results reads them)")
    parser.add_argument("--data-dir", type=Path, help=DATA_DIR_HELP)
    parser.add_argument("--run-id", help="name of the run folder (default: derived from the config, so reruns resume)")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto uses a GPU when the backend sees one (default: auto)")
    parser.add_argument("--refits", type=_positive,
                        help="train each study's chosen configuration this many times, each from its own "
                             "initialisation, and report the spread of test accuracy (default: 1; full: 3)")
    parser.add_argument("--streams", choices=STREAMS,
                        help="paired (default): strategies share each seed's random streams (common random "
                             "numbers); independent: each strategy draws its own")


_STRATEGY_HELP = "; ".join(f"{name} ({entry.summary}{', the ' + entry.extra + ' extra' if entry.extra else ''})"
                          for name, entry in catalog.STRATEGIES.items())
DESCRIPTION = ("Which hyperparameter-tuning strategy should you trust? Compares "
               + ", ".join(entry.summary for entry in catalog.STRATEGIES.values())
               + f" on one search space under one budget, with paired seeds.\nStart with `{PROG} run --preset smoke`; "
               "each command explains itself with --help.")
USER_COMMANDS = ("run", "chief", "worker", "runs", "report", "leaderboard", "benchmarks", "data", "table")


def _global_options(*, top_level: bool) -> _Parser:
    """Options accepted before and after the command (`-q run` and `run -q`).

    Below the command their default is SUPPRESS, so that a subcommand without `-q` keeps what the top level parsed.
    """
    options = _Parser(add_help=False)
    options.add_argument("-q", "--quiet", action="store_true", default=False if top_level else argparse.SUPPRESS,
                         help="print only warnings, errors and the command's result (run: the final table; "
                              "report, leaderboard, table validate: the files written)")
    return options


def build_parser() -> argparse.ArgumentParser:
    presets = "\n".join(f"  {name:9s} {note}" for name, note in PRESET_NOTES.items())
    parser = _Parser(prog=PROG, description=DESCRIPTION, parents=[_global_options(top_level=True)],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, title="commands",
                                     metavar="{" + ",".join(USER_COMMANDS) + "}")
    common = [_global_options(top_level=False)]

    run = commands.add_parser(
        "run", parents=common, help="tune the search space with each strategy and compare them",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run every (strategy, seed) study of a preset, each in a fresh process, then write the "
                    "report and the leaderboard.\nRunning the same command again resumes an interrupted run.",
        epilog=f"presets (measured times: README, 'Usage'):\n{presets}\n\nexamples:\n"
               f"  {PROG} run --preset smoke\n"
               f"  {PROG} run --strategies random,bayesian --seeds 3 --jobs 2\n"
               f"  {PROG} run --preset quick --workers 2")
    _add_run_options(run)
    run.add_argument("--replay", action="store_true", default=None,
                     help="read every trial from the space's tabular benchmark instead of training (grid spaces; "
                          "docs/tabular.md): keras-tuner's oracles choose as live, in seconds")
    run.add_argument("--tables-dir", type=Path,
                     help=f"folder of tabular benchmarks, for --replay (default: {DEFAULT_RESULTS / 'tables'} if it "
                          "holds the space's table, else the shipped results/tables)")
    run.add_argument("--table-noise", type=_positive, metavar="RESAMPLES",
                     help="with --replay: then replay the studies again on this many bootstrap resamples of the "
                          "table's training runs, for the verdict's table-noise interval (docs/tabular.md)")
    run.add_argument("--table-noise-strategies", type=_strategies,
                     help="strategies to resample with --table-noise (default: random and hyperband, which replay "
                          "in milliseconds; bayesian costs seconds per study)")
    run.add_argument("--refit-seeds", choices=REFIT_SEEDS,
                     help="with --replay: others (default): one final fit on every table seed but the one the "
                          "chosen trial read, the study scored by their mean; drawn: --refits fits on drawn seeds, "
                          "the chosen trial's own included (replays stored before 2026-12-01)")
    run.add_argument("--table-seeds", type=_table_seeds,
                     help="with --replay: read only these whole-grid seeds of the table, e.g. 5,6,7 (one backend's "
                          "training runs, for the verdict on each backend's seeds; default: all of them)")
    run.add_argument("--jobs", type=_positive, default=1, help="studies to run in parallel (default: 1)")
    run.add_argument("--scheduler", type=_address,
                     help="with --replay: replay the studies on the Dask cluster at this address (tcp://HOST:PORT; "
                          "needs the dask extra; docs/scaling.md)")
    run.add_argument("--threads", type=_positive,
                     help="threads of each study or replay process: TensorFlow's pools and BLAS/OpenMP's (default: "
                          "the cores divided by --jobs; a replay with --jobs 1 keeps the libraries' defaults)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the resolved config, the run id, its studies (and which are complete) and an "
                          "estimated time from committed runs, after the checks a run makes first (data, a user's "
                          "space); run nothing")
    run.add_argument("--trials-per-process", type=_positive, default=16,
                     help="restart a study's process after this many trials to return the memory TensorFlow keeps "
                          "per model; results are unchanged (default: 16)")

    chief = commands.add_parser(
        "chief", parents=common, help="run a benchmark whose trials are run by workers on other hosts",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Like `run`, but each study's oracle is served over gRPC (keras-tuner's chief/worker engine) and "
                    f"trials run in `{PROG} worker` processes started by hand, on this or other "
                    "hosts that share the results folder. Studies run one after another; workers follow them.",
        epilog="example (results folder on a shared file system):\n"
               f"  host0$ {PROG} chief --preset standard --workers 4 --bind 0.0.0.0 --port 50051 "
               "--results-dir /shared/results\n"
               f"  hostN$ {PROG} worker --oracle host0:50051 "
               "--run-dir /shared/results/runs/<run id printed by the chief>")
    _add_run_options(chief)
    chief.add_argument("--bind", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1; 0.0.0.0 for workers on other hosts)")
    chief.add_argument("--port", type=_port, default=50051, help="port to listen on, 1-65535 (default: 50051)")
    chief.add_argument("--worker-timeout", type=_positive, default=900,
                       help="seconds without a word from a worker before its trial is marked FAILED (default: 900)")

    worker = commands.add_parser(
        "worker", parents=common, help="run trials for a chief (see `chief --help`)",
        description="Join the chief's studies one after another until it announces the end of the run.")
    worker.add_argument("--oracle", required=True, type=_address, help="HOST:PORT of the chief")
    worker.add_argument("--run-dir", type=Path, required=True, help="the chief's run folder (shared file system)")
    worker.add_argument("--data-dir", type=Path, help=DATA_DIR_HELP)
    worker.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto uses a GPU when the backend sees one (default: auto)")
    worker.add_argument("--threads", type=_positive, default=os.cpu_count() or 1,
                        help="TensorFlow threads (default: all cores of this host)")
    worker.add_argument("--chief-timeout", type=_positive, default=600,
                        help="seconds to wait for the chief before giving up (default: 600)")

    results_help = f"results folder (default: {DEFAULT_RESULTS}; the shipped results: results)"
    runs = commands.add_parser(
        "runs", parents=common, help="list the stored runs: how far each got and the space it takes",
        description="List every run under the results folder: its id, live or replayed, studies complete, when it "
                    "finished, the size of its results and of its .work folder (keras-tuner's projects and "
                    "checkpoints, about 100 MB for a smoke run; what an unfinished run resumes from).")
    runs.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help=results_help)
    runs.add_argument("--reclaim-work", action="store_true",
                      help="delete the .work folder of every complete run (its results stay; unfinished runs keep "
                           "theirs, so they still resume)")
    report = commands.add_parser("report", parents=common, help="rewrite summary.md and figures of a stored run",
                                 description="Rewrite summary.md, the curves and the confusion matrices of a run "
                                             "from its stored records.")
    report.add_argument("run", nargs="?",
                        help="run id or folder (default: the run that finished last, by its recorded finish time)")
    report.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help=results_help)

    board = commands.add_parser("leaderboard", parents=common, help="rebuild LEADERBOARD.md from every stored run",
                                description="Rebuild <results-dir>/LEADERBOARD.md from every run stored there, and "
                                            "with --readme the README's answer block and figure.")
    board.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help=results_help)
    board.add_argument("--also", type=Path, action="append", default=[], metavar="DIR",
                       help="put the runs of this results folder beside --results-dir's (repeatable), e.g. your "
                            "runs beside the shipped ones: leaderboard --also results; the leaderboard is written "
                            "to --results-dir only, and a seed two runs hold with different results is named")
    board.add_argument("--readme", type=Path,
                       help="also rewrite the answer block of this file (README.md) and the answer figure "
                            "(<results-dir>/answer.png) from the same runs")

    bench = commands.add_parser("benchmarks", parents=common,
                                help="turn pytest-benchmark JSON into a BENCHMARKS.md beside it")
    bench.add_argument("json", type=Path, help="file written by pytest --benchmark-json")
    bench.add_argument("--output", type=Path, help="markdown file to write (default: BENCHMARKS.md beside the JSON)")

    data = commands.add_parser("data", parents=common, help="locate the Fashion-MNIST files and verify their md5s",
                               description="Locate the four Fashion-MNIST files and verify the md5 of their "
                                           "decompressed content.")
    data.add_argument("--data-dir", type=Path, help=DATA_DIR_HELP)

    table = commands.add_parser(
        "table", parents=common, help="build a tabular benchmark of a grid space (for `run --replay`)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train every configuration of a grid space once per seed and store its per-epoch curve "
                    "(docs/tabular.md). Resumable: the same command continues an interrupted build.",
        epilog=f"examples:\n  {PROG} table build --space ann-grid --jobs 2\n"
               f"  {PROG} table build --seed 2 --sample 40     (a validation seed)")
    table.add_argument("action", choices=["build", "validate"],
                       help="build: train what the table still lacks; validate: compare its seeds (VALIDATION.md)")
    table.add_argument("--space", type=_space, default="ann-grid",
                       help="a grid space: ann-grid (the default) or your own, FILE.py:NAME (docs/own-space.md)")
    table.add_argument("--data", help="your own dataset for your own space: FILE.npz or FILE.py:NAME")
    table.add_argument("--seed", type=_positive, help="build: training seed of the curves (default: 1)")
    table.add_argument("--sample", type=_positive,
                       help="build: train only this many configurations, drawn by the seed (a validation seed)")
    table.add_argument("--configs", type=Path,
                       help="build: train only the configurations listed in this JSON file (a check that chooses "
                            "them by a rule, e.g. a backend check: docs/tabular.md)")
    table.add_argument("--jobs", type=_positive,
                       help=f"build: configurations trained at once (default: one per core: {os.cpu_count() or 1})")
    table.add_argument("--scheduler", type=_address,
                       help="build: train on the Dask cluster at this address instead (tcp://HOST:PORT; needs the "
                            "dask extra; docs/scaling.md)")
    table.add_argument("--threads", type=_positive, help="build: threads per job (default: 1)")
    table.add_argument("--device", choices=DEVICES,
                       help="build: auto uses a GPU when the backend sees one (default: auto)")
    table.add_argument("--data-dir", type=Path, help=f"build: {DATA_DIR_HELP}")
    table.add_argument("--tables-dir", type=Path,
                       help=f"folder of tables (default: build: {DEFAULT_RESULTS / 'tables'}; validate: that folder if "
                            "it holds the space's table, else the shipped results/tables)")

    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    base = load_config_file(args.config) if args.config else make_config(args.preset, space=args.space,
                                                                            data=args.data)
    if args.config and (args.space or args.data):  # the file's space or data replaced: identify the new ones
        space, data = args.space or base.space, args.data or base.data
        base = base.replace(**{"space": space, "space_fingerprint": None, "data": data, "data_fingerprint": None}
                            | identity(space, data))
    seeds = args.seeds
    if seeds is None and getattr(args, "replay", None) and not args.config:  # replay seeds are cheap; fewer mislead
        seeds = tuple(range(1, DEFAULT_REPLAY_SEEDS + 1))
    return base.replace(**{k: v for k, v in {
        "val_size": args.val_size, "strategies": args.strategies, "seeds": seeds,
        "budget_epochs": args.budget_epochs,
        "epochs_per_trial": args.epochs_per_trial, "batch_size": args.batch_size,
        "final_epochs": args.final_epochs, "workers": args.workers, "streams": args.streams,
        "refits": args.refits, "budget_seconds": args.budget_seconds,
        "replay": getattr(args, "replay", None), "refit_seeds": getattr(args, "refit_seeds", None),
        "table_seeds": getattr(args, "table_seeds", None)}.items()
        if v is not None})


def _cmd_run(args: argparse.Namespace) -> int:
    from .processes import Serving
    from .orchestration.runner import run_benchmark
    from .reports.summary import final_table, write_report
    from .reports.leaderboard import verdict_sentence, write_leaderboard
    from .store import RunPaths, load_run

    cfg = config_from_args(args)
    require_optuna(cfg.strategies)
    scheduler = getattr(args, "scheduler", None)
    if scheduler is not None and not cfg.replay:
        raise ConfigError("--scheduler sends replayed studies to a Dask cluster (with --replay); live studies scale "
                          "out with --workers (keras-tuner's chief and workers)")
    noise = None
    if getattr(args, "table_noise", None) is not None or getattr(args, "table_noise_strategies", None) is not None:
        from .tabular.noise import DEFAULT_NOISE_STRATEGIES

        if not cfg.replay or args.table_noise is None:
            raise ConfigError("--table-noise RESAMPLES resamples a replay's table (with --replay); "
                              "--table-noise-strategies goes with it")
        chosen = args.table_noise_strategies or tuple(s for s in DEFAULT_NOISE_STRATEGIES if s in cfg.strategies)
        if not chosen or not set(chosen) <= set(cfg.strategies):
            raise ConfigError(f"--table-noise-strategies must be strategies of the run ({', '.join(cfg.strategies)})")
        noise = (args.table_noise, chosen)
    if scheduler is not None and args.jobs != 1:
        raise ConfigError("--jobs sets local processes; with --scheduler the cluster's workers replay the studies")
    if getattr(args, "dry_run", False):
        return _dry_run(cfg, args)
    serving = None
    if args.command == "chief":
        paths = RunPaths.in_results(args.results_dir, args.run_id or cfg.run_id)
        serving = Serving(bind=args.bind, port=args.port, worker_timeout=args.worker_timeout,
                          announce=paths.chief_announcement)
        print(f"chief of {paths.root}; start workers with:\n  python -m fmnist_bench worker --oracle "
              f"<this host>:{args.port} --run-dir {paths.root.resolve()}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        if cfg.replay:
            from .tabular.replay import run_replay

            if args.command == "chief":
                raise ConfigError("a replay reads its trials from a table in one process: use `run --replay`, "
                                  "not `chief`")

            tables = tables_dir_for(cfg.space_label, args.tables_dir)
            outcome = run_replay(cfg, results_dir=args.results_dir, tables_dir=tables, run_id=args.run_id,
                                 jobs=args.jobs, threads=args.threads, scheduler=scheduler, in_process=False)
            if noise is not None and not outcome.failed:
                from .tabular.noise import run_table_noise

                run_table_noise(cfg, results_dir=args.results_dir, tables_dir=tables, run_id=args.run_id,
                                resamples=noise[0], strategies=noise[1], jobs=args.jobs, threads=args.threads,
                                scheduler=scheduler)
        else:
            outcome = run_benchmark(cfg, results_dir=args.results_dir, data_dir=args.data_dir, run_id=args.run_id,
                                    jobs=getattr(args, "jobs", 1), threads=getattr(args, "threads", None),
                                    device=args.device, serving=serving,
                                    trials_per_process=getattr(args, "trials_per_process", None))
    except KeyboardInterrupt:
        print("interrupted: finished studies are kept; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome.results:
        write_report(outcome.paths.root)
        write_leaderboard(args.results_dir)
        print(final_table(outcome.results) if len(outcome.results) <= FINAL_TABLE_ROWS else
              f"{len(outcome.results)} studies: see the summary for the comparison across seeds")
        print("\nverdict: " + verdict_sentence(load_run(outcome.paths.root)).replace("**", ""))
    print(f"\nresults: {outcome.paths.summary}, leaderboard: {leaderboard_path(args.results_dir)}; "
          f"wall time {time.perf_counter() - start:.0f} s")
    for line in outcome.failed:
        print(f"failed: {line}", file=sys.stderr)
    return EXIT_FAILED if outcome.failed else 0


def _dry_run(cfg: RunConfig, args: argparse.Namespace) -> int:
    """What `run` would do with these arguments, without doing it."""
    import json

    from .orchestration.runner import completed_study, describe_estimate, estimate_seconds
    from .store import REFERENCE_RESULTS, RunPaths

    paths = RunPaths.in_results(args.results_dir, args.run_id or cfg.run_id)
    cells = cfg.cells
    if cfg.replay:  # a replay stores its studies in one archive, and keeps only those of the table it reads now
        from .tabular.replay import load_replay_table, stored_replays

        tables = tables_dir_for(cfg.space_label, args.tables_dir)
        kept = stored_replays(paths, cfg, load_replay_table(cfg, tables).seeds)[0] if paths.config.is_file() else {}
        done = [c for c in cells if c in kept]
    else:
        done = [c for c in cells if paths.config.is_file() and completed_study(paths, cfg, *c) is not None]
    pending = [c for c in cells if c not in done]
    print(f"run id: {paths.root.name} ({paths.root})")
    print("config: " + json.dumps(cfg.to_dict(), sort_keys=True))
    print(f"studies: {len(cells)} ({'/'.join(cfg.strategies)} x seeds {','.join(map(str, cfg.seeds))}), "
          f"{len(done)} complete, {len(pending)} to run")
    if not pending:
        print("nothing to run: the same command without --dry-run prints the stored results")
    elif cfg.replay:
        print(f"replayed from the table in {tables / cfg.space_label}: seconds to minutes, no training")
    else:
        from .datasets import load_checked
        from .engine.userspace import probe_in_child

        # the checks a run makes before its first study (data; a user's space, built once in a child): a dry run
        # that passes them fails no sooner than training does
        raw = load_checked(cfg.data, cfg.data_fingerprint, args.data_dir)
        print(f"data: checked ({len(raw.y_train)} training and {len(raw.y_test)} test examples in the files, "
              f"{len(raw.class_names)} classes)")
        if cfg.is_user_space:
            probe = probe_in_child(cfg.space, cfg.space_fingerprint, len(raw.class_names))
            print(f"space: checked ({cfg.space} builds a model for them)"
                  + "".join(f"\nwarning: {warning}" for warning in probe.warnings))
        estimate = estimate_seconds(cfg, [args.results_dir, REFERENCE_RESULTS], pending, jobs=args.jobs,
                                    device=args.device)
        print(f"live training with --jobs {args.jobs} on --device {args.device}: {describe_estimate(estimate)}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from .errors import ResultsError
    from .store import reclaim_work, require_run_dirs, run_status
    from .markdown import Column, markdown_table

    rows, freed = [], 0
    for run_dir in require_run_dirs(args.results_dir):
        try:
            status = run_status(run_dir)
        except ResultsError as exc:
            log.warning("skipped %s: %s", run_dir.name, exc)
            continue
        if args.reclaim_work and status.done and status.work_bytes:
            freed += reclaim_work(run_dir)
            status = dataclasses.replace(status, work_bytes=0)  # deleted: no need to walk the folder again
        rows.append({"run": status.run_id, "kind": "replay" if status.config.replay else "live",
                     "space": status.config.space, "studies": f"{status.complete}/{status.studies}",
                     "finished": (status.finished_at or "-")[:16].replace("T", " ") if status.done else "unfinished",
                     "results": _megabytes(status.results_bytes), ".work": _megabytes(status.work_bytes)})
    print(markdown_table(rows, [Column(key, key) for key in ("run", "kind", "space", "studies", "finished",
                                                             "results", ".work")]))
    if args.reclaim_work:
        print(f"reclaimed {_megabytes(freed)} from the .work folders of complete runs")
    return 0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _cmd_report(args: argparse.Namespace) -> int:
    from .reports.summary import resolve_run, write_report

    run_dir = resolve_run(args.results_dir, args.run)
    print(f"wrote {write_report(run_dir)}")
    return 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from .reports.leaderboard import write_leaderboard

    print(f"wrote {write_leaderboard(args.results_dir, args.also)}")
    if args.readme is not None:
        from .reports.answer import write_answer

        for written in write_answer(args.results_dir, args.readme):
            print(f"wrote {written}")
    return 0


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    from .reports.benchmarks import render_benchmarks
    from .store import atomic_write_text, ensure_writable_dir

    output = args.output or args.json.with_name("BENCHMARKS.md")
    ensure_writable_dir(output.parent)
    atomic_write_text(output, render_benchmarks(args.json))
    print(f"wrote {output}")
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    from .tabular.build import build_table, table_spec
    from .tabular.selection import read_chosen

    build_options = {"--seed": args.seed, "--sample": args.sample, "--configs": args.configs, "--jobs": args.jobs,
                     "--threads": args.threads,
                     "--device": args.device, "--data-dir": args.data_dir, "--scheduler": args.scheduler}
    if args.action == "validate":
        from .tabular.validate import write_validation

        given = [name for name, value in build_options.items() if value is not None]
        if given:
            raise ConfigError(f"table validate compares the seeds already built; {', '.join(given)} "
                              f"{'is a build option' if len(given) == 1 else 'are build options'} (table build)")
        label = space_label(args.space, args.data)
        written = write_validation(tables_dir_for(label, args.tables_dir), args.space, data=args.data,
                                   epochs=make_config("standard").epochs_per_trial)
        print(f"wrote {written}")
        return 0
    if args.sample and args.configs:
        raise ConfigError("--sample draws configurations and --configs lists them: give one of the two")
    if args.scheduler and (args.jobs or args.data_dir):
        raise ConfigError("--jobs and --data-dir apply to a local build; on a cluster (--scheduler) each worker "
                          "runs one configuration at a time and reads its own data (FMNIST_DATA_DIR)")
    try:
        spec = table_spec(args.space, args.data, args.data_dir)
        chosen = read_chosen(args.configs) if args.configs else None
        build_table(spec, args.seed or 1, tables_dir=args.tables_dir or DEFAULT_RESULTS / "tables",
                    data_dir=args.data_dir,
                    device=args.device or "auto", jobs=args.jobs or os.cpu_count() or 1, threads=args.threads or 1,
                    sample=args.sample, chosen=chosen, scheduler=args.scheduler,
                    progress=lambda line: log.info("%s", line))
    except KeyboardInterrupt:
        print("interrupted: finished curves are kept; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import find_data_dir, load_raw

    raw = load_raw(args.data_dir)
    print(f"Fashion-MNIST OK in {find_data_dir(args.data_dir)}: {len(raw.y_train)} training and "
          f"{len(raw.y_test)} test images, md5 verified")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from .orchestration.distributed import join_chief
    from .engine.runtime import check_device
    from .environment import keras_backend

    keras_backend()  # an unsupported backend fails here in one line, not in every study the chief announces
    check_device(args.device)  # and so does --device gpu without a GPU
    join_chief(args.run_dir, args.oracle, device=args.device, threads=args.threads, data_dir=args.data_dir,
               chief_timeout=args.chief_timeout)
    print("the chief announced the end of the run; worker done", file=sys.stderr)
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run, "chief": _cmd_run, "worker": _cmd_worker, "runs": _cmd_runs, "report": _cmd_report,
    "leaderboard": _cmd_leaderboard, "benchmarks": _cmd_benchmarks, "data": _cmd_data, "table": _cmd_table,
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        args = build_parser().parse_args(argv)
        log_to_stderr(logging.WARNING if args.quiet else logging.INFO)
        return _COMMANDS[args.command](args)
    except FmnistBenchError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
