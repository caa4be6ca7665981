"""Experiments: config-driven training with grouped cross-validation, saved as verifiable runs."""

from stance.experiments.runner import RunResult, run
from stance.experiments.runs import Run, RunError, list_run_dirs, load_run

__all__ = ["Run", "RunError", "RunResult", "list_run_dirs", "load_run", "run"]
