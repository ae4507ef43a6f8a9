"""`python -m fmnist_bench run | report | leaderboard | data`: the only module that prints or exits.

Every user error becomes one line on stderr and exit code 2; a study that fails makes `run` exit 1 after the other
studies finish; Ctrl-C stops the run promptly with exit code 130 and says how to resume.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable

from .config import PRESET_NOTES, PRESETS, SPACE_NAMES, STRATEGY_NAMES, load_config_file, make_config
from .errors import ConfigError, FmnistBenchError, StudyFailed

__all__ = ["main"]

log = logging.getLogger("fmnist_bench")
DEFAULT_RESULTS = Path("results")
EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of each record (pytest swaps it between tests)."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # type: ignore[no-untyped-def]
        pass


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
    if text not in SPACE_NAMES:
        raise argparse.ArgumentTypeError(f"unknown space {text!r}; choose from {','.join(SPACE_NAMES)}")
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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    presets = "\n".join(f"  {name:9s} {note}" for name, note in PRESET_NOTES.items())
    parser = _Parser(prog="python -m fmnist_bench", description=__doc__.split("\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and the final table")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser(
        "run", help="tune the search space with each strategy and compare them",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run every (strategy, seed) study of a preset, each in a fresh process, then write the "
                    "report and the leaderboard.\nRunning the same command again resumes an interrupted run.",
        epilog=f"presets:\n{presets}\n\nexamples:\n  python -m fmnist_bench run --preset smoke\n"
               "  python -m fmnist_bench run --strategies random,bayesian --seeds 3 --jobs 2")
    run.add_argument("--preset", choices=list(PRESETS), default="standard", metavar="{" + ",".join(PRESETS) + "}",
                     help="starting configuration (default: standard)")
    run.add_argument("--config", type=Path, help="TOML file with config keys (overrides the preset)")
    run.add_argument("--space", type=_space, help=f"search space: {', '.join(SPACE_NAMES)} (default: ann)")
    run.add_argument("--strategies", type=_strategies,
                     help=f"comma-separated subset of {','.join(STRATEGY_NAMES)} (default: all)")
    run.add_argument("--seeds", type=_seeds, help="N for seeds 1..N, or a list like 3,7 (default: 1; full: 5)")
    run.add_argument("--budget-epochs", type=_positive,
                     help="training epochs each study may spend searching (same for every strategy)")
    run.add_argument("--epochs-per-trial", type=_positive,
                     help="epochs one configuration trains for; Hyperband's max_epochs")
    run.add_argument("--batch-size", type=_positive, help="mini-batch size for search and final fit")
    run.add_argument("--final-epochs", type=_positive, help="epochs of the final fit of the best configuration")
    run.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="results folder (default: results)")
    run.add_argument("--data-dir", type=Path, help="folder with the four Fashion-MNIST *-ubyte.gz files")
    run.add_argument("--run-id", help="name of the run folder (default: derived from the config, so reruns resume)")
    run.add_argument("--jobs", type=_positive, default=1, help="studies to run in parallel (default: 1)")
    run.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                     help="auto uses a GPU when TensorFlow sees one (default: auto)")
    run.add_argument("--trials-per-process", type=_positive, default=16,
                     help="restart a study's process after this many trials to return the memory TensorFlow keeps "
                          "per model; results are unchanged (default: 16)")

    report = commands.add_parser("report", help="(re)write summary.md and figures of a stored run")
    report.add_argument("run", nargs="?", help="run id or folder (default: the most recent run)")
    report.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)

    board = commands.add_parser("leaderboard", help="rebuild results/LEADERBOARD.md from every stored run")
    board.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)

    bench = commands.add_parser("benchmarks", help="turn pytest-benchmark JSON into results/benchmarks/BENCHMARKS.md")
    bench.add_argument("json", type=Path, help="file written by pytest --benchmark-json")
    bench.add_argument("--output", type=Path, default=DEFAULT_RESULTS / "benchmarks" / "BENCHMARKS.md")

    data = commands.add_parser("data", help="locate and verify the Fashion-MNIST files")
    data.add_argument("--data-dir", type=Path)

    study = commands.add_parser("_study")  # internal: one study in a fresh process, started by `run`
    study.add_argument("--run-dir", type=Path, required=True)
    study.add_argument("--strategy", required=True)
    study.add_argument("--seed", type=int, required=True)
    study.add_argument("--device", default="auto")
    study.add_argument("--threads", type=int, default=1)
    study.add_argument("--data-dir", type=Path)
    study.add_argument("--trials-per-process", type=int)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_benchmark
    from .report import final_table, write_report
    from .leaderboard import write_leaderboard

    base = load_config_file(args.config) if args.config else make_config(args.preset)
    cfg = base.replace(**{k: v for k, v in {
        "space": args.space, "strategies": args.strategies, "seeds": args.seeds, "budget_epochs": args.budget_epochs,
        "epochs_per_trial": args.epochs_per_trial, "batch_size": args.batch_size,
        "final_epochs": args.final_epochs}.items() if v is not None})
    start = time.perf_counter()
    try:
        outcome = run_benchmark(cfg, results_dir=args.results_dir, data_dir=args.data_dir, run_id=args.run_id,
                                jobs=args.jobs, device=args.device, trials_per_process=args.trials_per_process)
    except KeyboardInterrupt:
        print("interrupted: finished studies are kept; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome.results:
        write_report(outcome.paths.root)
        write_leaderboard(args.results_dir)
        print(final_table(outcome.results))
    print(f"\nresults: {outcome.paths.root} (summary.md), leaderboard: {args.results_dir / 'LEADERBOARD.md'}; "
          f"wall time {time.perf_counter() - start:.0f} s")
    for line in outcome.failed:
        print(f"failed: {line}", file=sys.stderr)
    return EXIT_FAILED if outcome.failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import resolve_run, write_report

    run_dir = resolve_run(args.results_dir, args.run)
    print(f"wrote {write_report(run_dir)}")
    return 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard import write_leaderboard

    print(f"wrote {write_leaderboard(args.results_dir)}")
    return 0


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    from .benchreport import render_benchmarks
    from .store import atomic_write_text, ensure_writable_dir

    ensure_writable_dir(args.output.parent)
    atomic_write_text(args.output, render_benchmarks(args.json))
    print(f"wrote {args.output}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import find_data_dir, load_raw

    raw = load_raw(args.data_dir)
    print(f"Fashion-MNIST OK in {find_data_dir(args.data_dir)}: {len(raw.y_train)} training and "
          f"{len(raw.y_test)} test images, md5 verified")
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from .config import RunConfig
    from .store import RunPaths, read_json
    from .study import run_study
    from .runner import EXIT_RECYCLE, EXIT_STUDY_FAILED
    from .strategies import ProcessRecycle

    paths = RunPaths(args.run_dir)
    cfg = RunConfig.from_dict(read_json(paths.config, "config")["config"])
    try:
        run_study(cfg, args.strategy, args.seed, paths, data_dir=args.data_dir, device=args.device,
                  threads=args.threads, trials_per_process=args.trials_per_process)
    except StudyFailed as exc:
        print(f"fmnist-bench: study failed: {exc}", file=sys.stderr)
        return EXIT_STUDY_FAILED
    except ProcessRecycle:
        return EXIT_RECYCLE
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run, "report": _cmd_report, "leaderboard": _cmd_leaderboard, "benchmarks": _cmd_benchmarks,
    "data": _cmd_data,
    "_study": _cmd_study,
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        args = _build_parser().parse_args(argv)
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                            handlers=[_StderrHandler()], force=True)
        return _COMMANDS[args.command](args)
    except FmnistBenchError as exc:
        print(f"fmnist-bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
