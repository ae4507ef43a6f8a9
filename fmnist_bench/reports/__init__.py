"""What the user reads: a run's summary and figures (`summary`), the leaderboard over every stored run and the
README's verdict (`leaderboard`), and the benchmark tables (`benchmarks`). Reports read stored records only; they
never know whether a study was trained or replayed."""
