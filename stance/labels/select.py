"""Choosing which sentences annotators see: by terms, at random, spread out ("diverse"),
where a model is least sure ("uncertain"), spread out among those it is least sure of
("uncertain-diverse"), or as many likely members of each class as of any other
("balanced", which finds rare classes early).

Uncertainty per dimension is the normalised entropy of the class probabilities (or
one minus the margin between the two likeliest classes), from 0 (sure) to 1; over
several dimensions it is their mean, unless one dimension is in focus.
"""

from __future__ import annotations

import math
import re

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from stance.errors import StanceError
from stance.labels import STRATEGIES, UNCERTAINTY_METHODS

_MAX_POOL = 50_000
#: "uncertain-diverse" spreads its batch of n over the n x this many sentences the model is least sure of.
UNCERTAIN_POOL = 10


def matching(texts: list[str], terms: list[str]) -> list[int]:
    """Indices of texts that mention any of ``terms`` (whole words, any case)."""
    if not terms:
        return list(range(len(texts)))
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
    return [i for i, text in enumerate(texts) if pattern.search(text)]


def uncertainty(proba: dict[str, np.ndarray], method: str = "entropy", focus: str | None = None) -> np.ndarray:
    """One score per sentence in [0, 1]; higher means the model is less sure."""
    if method not in UNCERTAINTY_METHODS:
        raise StanceError(f"{{uncertainty}} must be one of {', '.join(UNCERTAINTY_METHODS)}", uncertainty=method)
    scores = []
    for p in _focused(proba, focus).values():
        p = np.clip(np.asarray(p, dtype=float), 1e-12, 1.0)
        if method == "entropy":
            scores.append(-(p * np.log(p)).sum(axis=1) / np.log(p.shape[1]))
        else:
            top = np.sort(p, axis=1)[:, -2:]
            scores.append(1.0 - (top[:, 1] - top[:, 0]))
    return np.mean(scores, axis=0)


def _focused(proba: dict[str, np.ndarray], focus: str | None) -> dict[str, np.ndarray]:
    """The probabilities of every dimension, or of the ``focus`` one only."""
    if focus is None:
        return proba
    if focus not in proba:
        raise StanceError(f"{{focus}}: the run predicts {', '.join(proba)}", focus=focus)
    return {focus: proba[focus]}


def select_random(n_items: int, n: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n_items, size=min(n, n_items), replace=False).tolist())


def embed_for_diversity(texts: list[str], seed: int = 0) -> np.ndarray:
    """Unit vectors where cosine similarity tracks shared content (TF-IDF, reduced by SVD)."""
    matrix = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), stop_words="english",
                             min_df=1).fit_transform(texts)
    dims = min(64, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if dims >= 2:
        matrix = TruncatedSVD(n_components=dims, random_state=seed).fit_transform(matrix)
        return normalize(matrix)
    return normalize(matrix.toarray())


def select_diverse(texts: list[str], groups: list[str], n: int, *, seed: int = 0,
                   near_duplicate: float = 0.9, scores: np.ndarray | None = None) -> list[int]:
    """Pick ``n`` items far apart in content, at most an even share per group (article),
    never two whose cosine similarity exceeds ``near_duplicate``.

    Greedy farthest-point selection; with ``scores`` (such as a model's uncertainty)
    each step takes the best score among items not too close to those already chosen.
    """
    total = len(texts)
    if total == 0 or n <= 0:
        return []
    rng = np.random.default_rng(seed)
    pool = np.arange(total)
    if total > _MAX_POOL:  # the best-scored candidates when scores are given, else a random sample
        pool = (np.sort(np.argsort(-np.asarray(scores))[:_MAX_POOL]) if scores is not None
                else np.sort(rng.choice(total, size=_MAX_POOL, replace=False)))
    vectors = embed_for_diversity([texts[i] for i in pool], seed)
    group_ids = np.unique([groups[i] for i in pool], return_inverse=True)[1]
    quota = math.ceil(n / (group_ids.max() + 1))
    taken_per_group = np.zeros(group_ids.max() + 1, dtype=int)
    closest = np.full(len(pool), -1.0)  # highest similarity to anything chosen so far
    available = np.ones(len(pool), dtype=bool)
    chosen: list[int] = []
    while len(chosen) < min(n, len(pool)) and available.any():
        if scores is not None:
            merit = np.where(available, np.asarray(scores)[pool], -np.inf)
        elif not chosen:
            merit = np.where(available, rng.random(len(pool)), -np.inf)
        else:
            merit = np.where(available, 1.0 - closest, -np.inf)
        best = int(np.argmax(merit))
        chosen.append(best)
        available[best] = False
        taken_per_group[group_ids[best]] += 1
        if taken_per_group[group_ids[best]] >= quota:
            available &= group_ids != group_ids[best]
        closest = np.maximum(closest, vectors @ vectors[best])
        available &= closest <= near_duplicate
    return sorted(int(pool[i]) for i in chosen)


def pick_random(texts: list[str], groups: list[str], n: int, *, seed: int = 0, proba=None, **_) -> list[int]:
    """``n`` sentences drawn at random."""
    return select_random(len(texts), n, seed)


def pick_diverse(texts: list[str], groups: list[str], n: int, *, seed: int = 0, proba=None, **_) -> list[int]:
    """``n`` sentences far apart in content (see :func:`select_diverse`)."""
    return select_diverse(texts, groups, n, seed=seed)


def pick_uncertain(texts: list[str], groups: list[str], n: int, *, seed: int = 0, proba=None,
                   method: str = "entropy", focus: str | None = None) -> list[int]:
    """``n`` sentences the model (its ``proba``) is least sure of, spread out in content."""
    return select_diverse(texts, groups, n, seed=seed, scores=uncertainty(proba, method, focus))


def pick_uncertain_diverse(texts: list[str], groups: list[str], n: int, *, seed: int = 0, proba=None,
                           method: str = "entropy", focus: str | None = None) -> list[int]:
    """``n`` sentences spread out in content among the ``UNCERTAIN_POOL`` x ``n`` the model is
    least sure of: a batch of the most uncertain alone often asks the same question ``n`` times."""
    scores = uncertainty(proba, method, focus)
    pool = np.sort(np.argsort(-scores, kind="stable")[:UNCERTAIN_POOL * n])
    return sorted(int(pool[i]) for i in select_diverse([texts[i] for i in pool], [groups[i] for i in pool], n,
                                                          seed=seed))


def pick_balanced(texts: list[str], groups: list[str], n: int, *, seed: int = 0, proba=None,
                  focus: str | None = None, **_) -> list[int]:
    """``n`` sentences shared evenly among the classes of every dimension (or the ``focus`` one), each
    the likeliest member of its class not yet taken: a rare class gets as many labels as a common
    one while its members are still being found, where random picks would bring a few."""
    rankings = [np.argsort(-np.asarray(p)[:, c], kind="stable") for p in _focused(proba, focus).values()
                for c in range(p.shape[1])]
    order = np.random.default_rng(seed).permutation(len(rankings))
    position = [0] * len(rankings)
    taken: set[int] = set()
    while len(taken) < min(n, len(texts)):
        for k in order:
            ranking = rankings[k]
            while position[k] < len(ranking) and ranking[position[k]] in taken:
                position[k] += 1
            if position[k] < len(ranking):
                taken.add(int(ranking[position[k]]))
            if len(taken) == min(n, len(texts)):
                break
    return sorted(taken)


#: What each strategy does, for ``labels push`` and ``labels simulate`` alike: the indices of ``n`` of
#: the candidate ``texts`` (``groups``: their articles; ``proba``: a model's probabilities on them, for
#: the strategies in ``NEEDS_MODEL``).
STRATEGY = dict(zip(STRATEGIES, (pick_random, pick_diverse, pick_uncertain, pick_uncertain_diverse, pick_balanced)))
NEEDS_MODEL = ("uncertain", "uncertain-diverse", "balanced")
