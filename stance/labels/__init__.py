"""Labelling in Label Studio: push sentences, pull annotations, agreement, import."""

#: How ``labels push`` picks sentences.
SELECTIONS = ("all", "random", "diverse", "uncertain")
