"""Labelling in Label Studio: push sentences, pull annotations, agreement, import."""

#: How ``labels push`` picks sentences.
SELECTIONS = ("all", "random", "diverse", "uncertain")
#: How ``select="uncertain"`` measures a model's uncertainty.
UNCERTAINTY_METHODS = ("entropy", "margin")
