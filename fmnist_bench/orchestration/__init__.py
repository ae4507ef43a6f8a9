"""Processes that run studies: the run's parent (`runner`, one child per study), keras-tuner's chief/worker engine
over gRPC (`distributed`), and the entry point of every child process (`child`)."""

from .runner import Estimate, describe_estimate, estimate_seconds, run_benchmark

__all__ = ["Estimate", "describe_estimate", "estimate_seconds", "run_benchmark"]
