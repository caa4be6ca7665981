"""stance: label, train and score stance in news sentences about US-China relations.

The main entry points, imported on first use so that ``import stance`` stays fast:
``stance.build_corpus``, ``stance.load_run``, ``stance.score``, ``stance.estimate``,
``stance.report``;
training is ``stance.experiments.run``.
"""

__version__ = "0.1.0"

_LAZY = {
    "build_corpus": ("stance.corpus", "build_corpus"),
    "load_run": ("stance.experiments.runs", "load_run"),
    "score": ("stance.scoring", "score"),
    "report": ("stance.report", "report"),
    "estimate": ("stance.estimate", "estimate"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'stance' has no attribute {name!r}")
