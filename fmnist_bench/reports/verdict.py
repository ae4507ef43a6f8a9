"""The verdict's rules: when a difference between two strategies is stated, and how its line is worded.

One module so that the rules are read, tested and changed in one place (the leaderboard, a run's summary and the
README's answer all word their verdicts here). The rows come from `leaderboard.pooled_rows`, typed by `BenchmarkRow`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TypedDict

import numpy as np

from ..catalog import BASELINE
from ..config import DEFAULT_REPLAY_SEEDS
from ..markdown import fmt_bound, fmt_interval
from ..stats import POWER

__all__ = ["MIN_REPLAY_SEEDS", "BenchmarkRow", "Checks", "Claim", "live_check", "verdict_line"]

# A replayed line states a difference only from this many replay seeds on (the default of `--replay`). Replay seeds
# vary the oracles alone on one table, so they are cheap, and fewer mislead: at 20 seeds the default 90-epoch replay
# found "hyperband beats bayesian by 0.45 pp [+0.18, +0.72]" (Holm-significant), which 100 seeds reject (+0.14
# [-0.02, +0.30]); docs/tabular.md ("How many replay seeds") measures how often disjoint blocks of fewer seeds
# claim what their 100 do not.
MIN_REPLAY_SEEDS = DEFAULT_REPLAY_SEEDS


class BenchmarkRow(TypedDict):
    """One strategy of one protocol in a benchmark, its seeds pooled over the protocol's runs."""

    group: int  # the protocol's position in its benchmark, newest first
    strategy: str
    preset: str
    final_fit: str
    how: str | None
    seeds: int  # the seeds every strategy of the protocol has
    seeds_label: str  # "10" or "10 of 20"
    mean: float  # mean test accuracy over those seeds
    ci: tuple[float, float]  # its 95% t-interval
    vs_random: tuple[float, tuple[float, ...], int] | None  # (strategy - random, its 95% paired t-interval, seeds)
    detectable: float | None  # smallest difference to random these seeds detect with POWER after Holm
    significant: bool  # the difference to random passes Holm's correction
    beats: list[tuple[str, float, tuple[float, ...], int, Checks | None]]  # significant wins over non-random rivals
    checks_vs_random: Checks | None  # a replay's checks of strategy - random beyond the replay seeds
    same_as: list[str]  # strategies identical to this one on every seed
    training_runs: int | None  # a replay: training runs per configuration; None live
    table_stack: str | None  # a replay: what trained its table ("JAX/GPU")
    runs: str  # markdown links to the runs
    stack: str  # backend / Keras / keras-tuner


def verdict_line(rows: list[BenchmarkRow]) -> str:
    best = rows[0]
    paired = min(r["seeds"] for r in rows)  # a run still in progress: the seeds every strategy has
    runs = best["training_runs"]
    seeds = f"{paired} seeds" if runs is None else f"{paired} replay seeds"
    twins = {r["strategy"]: r["same_as"] for r in rows}
    stated: list[str] = []
    noisy: list[str] = []
    unchecked: list[str] = []
    few: list[str] = []  # replayed on too few seeds to state anything (MIN_REPLAY_SEEDS)
    too_few = runs is not None and paired < MIN_REPLAY_SEEDS
    versus_random = []

    def file(claim: Claim) -> None:
        if too_few:
            few.append(claim.plain(seeds))
            return
        (stated if claim.robust else unchecked if claim.unchecked else noisy).append(claim.text(seeds))

    for r in rows:
        if not r["significant"] or r["vs_random"] is None:
            continue
        diff, ci, _ = r["vs_random"]
        others = [t for t in twins[BASELINE] if t != r["strategy"]]
        subject = "random search" + (f" (and {', '.join(others)}, identical to it on every seed)" if others else "")
        claim = Claim(r["strategy"], subject, diff, ci, r["checks_vs_random"])
        file(claim)
        versus_random.append(claim.robust and not too_few)
    for r in rows:
        for loser, diff, ci, _, checks in r["beats"]:
            if BASELINE in twins[loser] or BASELINE in twins[r["strategy"]]:
                continue  # the same comparison as one with random search, stated above
            file(Claim(r["strategy"], loser, diff, ci, checks))
    noise = (" **Depends on training noise:** " + "; ".join(noisy) + ".") if noisy else ""
    if unchecked:
        noise += (" **Not checked against training noise** (so not a claim): " + "; ".join(unchecked) + ".")
    if few:
        noise += (f" **Too few replay seeds for a claim** (a replay's verdict needs {MIN_REPLAY_SEEDS}, "
                  "`--seeds 100`, the default): " + "; ".join(few) + ".")
    footnote = ("" if runs is None else
                f" Replay seeds over {runs} training runs per configuration{unchecked_note(rows)}.")
    if any(versus_random):
        return "**" + "; ".join(stated) + ".**" + noise + footnote
    detectable = [r["detectable"] for r in rows if r["detectable"] is not None and not math.isnan(r["detectable"])]
    bound = (f"these seeds detect, with {POWER:.0%} power, only differences to random search of "
             f"{100 * max(detectable):.2f} pp or more" if detectable and max(detectable) > 0 else
             "each strategy scored exactly as random search on every seed, which leaves no spread to test"
             if detectable else "no paired comparison with random search")
    means = ", ".join(f"{r['strategy']} {100 * r['mean']:.2f}%" for r in rows)
    if stated:
        return (f"**no strategy is shown better than random search** at {seeds} ({bound}), **but "
                + "; ".join(stated) + f".**{noise} Means {means}.{footnote}")
    if noise:
        return f"**no strategy is shown better** at {seeds} ({bound}).{noise} Means {means}.{footnote}"
    return f"**no strategy is shown better** at {seeds} ({bound}); means {means}.{footnote}"


def unchecked_note(rows: list[BenchmarkRow]) -> str:
    """What a replayed line could not check, said once."""
    checks = [r["checks_vs_random"] for r in rows if r["checks_vs_random"] is not None]
    missing = []
    if checks and not any(c.single_runs for c in checks):
        missing.append("not checked with each training run held out (replayed before that check existed; the "
                       "same command replays it again with the check)")
    if checks and checks[0].resamples is None:
        missing.append("no table-noise interval (replay with --table-noise to make one; one made before final fits "
                       "avoided the chosen trial's run is not counted)")
    else:
        bare = sorted(r["strategy"] for r in rows if r["checks_vs_random"] is not None
                      and r["checks_vs_random"].noise is None)
        if bare:
            missing.append(f"no table-noise interval for {', '.join(bare)} (not resampled)")
    return "; " + "; ".join(missing) if missing else ""


@dataclasses.dataclass(frozen=True)
class Checks:
    """How a replayed difference a - b holds up beyond its replay seeds."""

    single_runs: dict[int, float]  # table seed h -> the difference with h held out of the search ({}: not kept)
    noise: tuple[float, float] | None  # table-noise interval (bootstrap over training runs and seeds), if resampled
    resamples: int | None  # how many resamples the run's table-noise interval has (None: none made)

    def agree(self, diff: float) -> bool:
        """At least one check was made, and every one keeps the sign of `diff`."""
        outcomes = self.outcomes(diff)
        return bool(outcomes) and all(held for _, held in outcomes)

    def outcomes(self, diff: float) -> list[tuple[str, bool]]:
        """Each check made, worded, and whether it keeps the sign of `diff` (the table-noise interval: excludes 0)."""
        made = []
        if self.single_runs:
            made.append((f"{spread(self.single_runs)} with each training run held out",
                         all(np.sign(d) == np.sign(diff) for d in self.single_runs.values())))
        if self.noise is not None:
            made.append((f"table-noise interval {fmt_interval(self.noise, signed=True)} over {self.resamples} "
                         "resamples of the training runs and replay seeds",
                         min(self.noise) > 0 if diff > 0 else max(self.noise) < 0))
        return made


@dataclasses.dataclass(frozen=True)
class Claim:
    """A significant paired difference `subject` minus `other`, and how it holds beyond the seeds it was paired on."""

    subject: str
    other: str
    diff: float
    ci: tuple[float, ...]
    checks: Checks | None  # None: a live run, whose seeds are independent training runs

    @property
    def robust(self) -> bool:
        """Live: its seeds are training runs. Replayed: only when a check beyond the replay seeds was made and every
        one keeps the sign (a replay with none is not a claim, whatever its t-test)."""
        return self.checks is None or self.checks.agree(self.diff)

    @property
    def unchecked(self) -> bool:
        return self.checks is not None and not self.checks.outcomes(self.diff)

    def plain(self, seeds: str) -> str:
        """'hyperband vs bayesian +0.29 pp (95% CI [+0.14, +0.44], 100 seeds)': named, not stated."""
        ci = fmt_interval(tuple(sorted(self.ci)), signed=True)
        return f"{self.subject} vs {self.other} {100 * self.diff:+.2f} pp (95% CI {ci}, {seeds})"

    def text(self, seeds: str) -> str:
        """'hyperband beats bayesian by 0.29 pp (95% CI [+0.14, +0.44], 100 seeds)' (fractions in, points out)."""
        ci = fmt_interval(tuple(sorted(self.ci)), signed=True)
        outcomes = self.checks.outcomes(self.diff) if self.checks else []
        if self.unchecked:
            return self.plain(seeds)
        if not self.robust:
            # the checks that keep the sign first, then, after "but", the ones that do not
            held = "".join(f", {text}" for text, ok in outcomes if ok)
            failed = "; ".join(text for text, ok in outcomes if not ok)
            return (f"{self.subject} vs {self.other} {100 * self.diff:+.2f} pp (95% CI {ci}, {seeds}){held}, "
                    f"but {failed}")
        more = "; ".join(text for text, _ in outcomes)
        return (f"{self.subject} {'beats' if self.diff > 0 else 'trails'} {self.other} by "
                f"{100 * abs(self.diff):.2f} pp (95% CI {ci}, {seeds}{'; ' + more if more else ''})")


def spread(single_runs: dict[int, float]) -> str:
    values = sorted(single_runs.values())
    return f"{fmt_bound(100 * values[0], True)} to {fmt_bound(100 * values[-1], True)} pp"



def live_check(replayed: list[BenchmarkRow], live: list[BenchmarkRow] | None) -> str:
    """A replayed line's out-of-sample check: each strategy's paired difference to random search where the same
    protocol (preset, final fit, budget) was trained live, beside the replay's estimate: the live run confirms it
    (the estimate inside the live interval, which excludes 0), agrees (inside, the interval holds 0) or disagrees
    (outside); nothing without such a run of two or more seeds."""
    if not live or min(r["seeds"] for r in live) < 2 or \
            (live[0]["preset"], live[0]["final_fit"]) != (replayed[0]["preset"], replayed[0]["final_fit"]):
        return ""
    predicted = {r["strategy"]: r["vs_random"][0] for r in replayed if r["vs_random"] is not None}
    parts = []
    for r in live:
        if r["vs_random"] is None or r["strategy"] not in predicted:
            continue
        diff, ci, _ = r["vs_random"]
        if not min(ci) <= predicted[r["strategy"]] <= max(ci):
            outcome = "**disagrees**: outside the live interval"
        elif min(ci) > 0 or max(ci) < 0:
            outcome = "confirms: inside the live interval, which excludes 0"
        else:
            outcome = "agrees: inside the live interval, which also holds 0"
        parts.append(f"{r['strategy']} {100 * diff:+.2f} pp {fmt_interval(ci, signed=True)} against the replay's "
                     f"{100 * predicted[r['strategy']]:+.2f} ({outcome})")
    if not parts:
        return ""
    return (f" **Live check** (this protocol trained live, {min(r['seeds'] for r in live)} seeds, differences to "
            "random search, 95% paired t): " + "; ".join(parts) + ".")


