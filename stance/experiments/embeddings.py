"""Where the embedding estimators lived before ``stance.model``: runs saved then name them here in
their pickles. New code imports :mod:`stance.model.embeddings`."""

from stance.model.embeddings import *  # noqa: F401,F403
