"""What the user reads: a run's summary and figures (`summary`), the leaderboard over every stored run and the
README's verdict (`leaderboard`), the verdict's rules (`verdict`), and the benchmark tables (`benchmarks`). Reports
read stored records only; they never know whether a study was trained or replayed."""

from .benchmarks import render_benchmarks
from .answer import answer_points, render_answer_png, render_answer_table, write_answer
from .leaderboard import pooled_rows, render_leaderboard, render_verdict, verdict_sentence, write_leaderboard
from .summary import render_summary, write_report
from .verdict import BenchmarkRow, live_check, verdict_line

__all__ = ["BenchmarkRow", "answer_points", "live_check", "pooled_rows", "render_answer_png", "render_answer_table",
           "render_benchmarks", "render_leaderboard", "render_summary", "render_verdict", "verdict_line",
           "verdict_sentence", "write_answer", "write_leaderboard", "write_report"]
