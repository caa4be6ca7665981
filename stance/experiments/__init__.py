"""Experiments: config-driven training with grouped cross-validation, saved as verifiable runs
(see :mod:`stance.model.runs`); ``load_run`` is re-exported for convenience."""

from stance.experiments.runner import RunResult, run
from stance.model.runs import Run, RunError, list_run_dirs, load_run

__all__ = ["Run", "RunError", "RunResult", "list_run_dirs", "load_run", "run"]
