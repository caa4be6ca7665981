"""Labelling in Label Studio: push sentences, pull annotations, agreement, import."""

#: How a strategy picks the sentences people label next: the names ``labels push --select`` and
#: ``labels simulate --strategy`` share (the table of what each does is ``select.STRATEGY``).
STRATEGIES = ("random", "diverse", "uncertain", "uncertain-diverse", "balanced")
#: ``labels push --select``: every sentence, or a strategy's pick.
SELECTIONS = ("all", *STRATEGIES)
#: How ``select="uncertain"`` measures a model's uncertainty.
UNCERTAINTY_METHODS = ("entropy", "margin")
