"""Scoring: a run applied to new articles, in batch (``batch``: streaming, in parallel, on Dask)
or live for Label Studio (``serve``: the ML backend)."""
