"""stance: label, train and score stance in news sentences about US-China relations.

The main entry points, imported on first use so that ``import stance`` stays fast:
``stance.build_corpus``, ``stance.load_run``, ``stance.score``, ``stance.estimate``,
``stance.report``; training is ``stance.experiments.run``.

One package per stage of the loop, each importing only the stages before it: ``ingest``
(articles into a corpus of sentences), ``studio`` and ``labels`` (labelling in Label
Studio), ``encoders`` and ``model`` (sentence encoders, and the trained model's home),
``experiments`` (training and comparing runs), ``scoring`` (batch and live), ``findings``
(shares, differences, audits, report). Below them all, shared pieces: ``errors``,
``progress``, ``parallel``, ``schema``, ``resources``, ``plots``, ``webpage`` and
``quantify`` (the share estimators, used by training's checks and by findings).
"""

__version__ = "0.1.0"

_LAZY = {
    "build_corpus": ("stance.ingest.corpus", "build_corpus"),
    "load_run": ("stance.model.runs", "load_run"),
    "score": ("stance.scoring.batch", "score"),
    "report": ("stance.findings.report", "report"),
    "estimate": ("stance.findings.estimate", "estimate"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'stance' has no attribute {name!r}")
