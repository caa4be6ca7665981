"""Experiments: config-driven training with grouped cross-validation, saved as verifiable runs.

``run`` trains (importing the training stack on first use); ``load_run`` opens a saved run.
"""

from stance.experiments.runs import Run, RunError, list_run_dirs, load_run

__all__ = ["Run", "RunError", "RunResult", "list_run_dirs", "load_run", "run"]


def __getattr__(name: str):
    if name in ("run", "RunResult"):  # training needs datasets and more; scoring does not
        from stance.experiments import runner
        return getattr(runner, name)
    raise AttributeError(f"module 'stance.experiments' has no attribute {name!r}")
