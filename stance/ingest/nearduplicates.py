"""Near-duplicate articles: the same wire story (AP, Reuters, Xinhua) in many outlets with
a new headline, a trimmed paragraph or a local lede.

Articles are compared by the Jaccard similarity of their word 5-shingles, estimated by
MinHash and found with banded locality-sensitive hashing. Both are computed here in
numpy, several times faster than datasketch (measured in benchmarks/near_duplicates.py),
which the tests use as the reference. A copy that keeps five
of six paragraphs is at about 0.6; two outlets' own reports of the same event share a
quote or two and sit far lower (see the README for the seed articles), so the default
threshold is 0.5. Copies form clusters (a copy of a copy is in the same cluster), named
by their first article in input order.

Sentences get a ``text_key``: a hash of their text with case and spacing ignored, equal
wherever the same sentence appears.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

#: Word shingle length, MinHash permutations, and the default similarity of a copy.
SHINGLE, NUM_PERM, THRESHOLD = 5, 128, 0.5
_BIN_BITS = 7  # 2 ** 7 == NUM_PERM bins
_MULTIPLIER, _MIXER = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)
_EMPTY, _BORROWED = np.uint32(0xFFFFFFFF), np.uint32(0x5BD1E995)
_PROBES = np.random.default_rng(20211).integers(0, NUM_PERM, (NUM_PERM, 64))  # the same for every text
#: What corpus build does with near-duplicates, and the fewest words a text needs to be compared.
MODES = ("keep", "mark", "drop")
MIN_WORDS = 40


def signatures(texts: list[str]) -> np.ndarray:
    """One MinHash signature per text: ``NUM_PERM`` uint32 values whose share of agreement
    between two texts estimates the Jaccard similarity of their word 5-shingles.

    One-permutation hashing with optimal densification (Li, Owen and Zhang 2012;
    Shrivastava 2017): each shingle is hashed once and falls into one of ``NUM_PERM`` bins,
    each bin keeps its minimum, and an empty bin borrows from the first full bin along a
    random probe path that is the same for every text. It is computed for a whole chunk
    at once in numpy, several times faster than datasketch's MinHash, which hashes every
    shingle ``NUM_PERM`` times (benchmarks/near_duplicates.py).
    Words are whitespace-separated, in lower case. A text of fewer than ``MIN_WORDS``
    words gets no signature (all bins empty): its few shingles would make a noisy estimate,
    so it is compared for exact duplicates only.
    """
    import pandas as pd

    words = [text.lower().split() for text in texts]
    lengths = np.array([max(len(w), SHINGLE) for w in words], np.int64)
    flat = [word for w in words for word in (w if len(w) >= SHINGLE else w + [""] * (SHINGLE - len(w)))]
    hashes = pd.util.hash_array(np.array(flat, dtype=object))  # SipHash with a fixed key: stable
    count = len(hashes) - SHINGLE + 1
    shingles = hashes[:count].copy()
    for j in range(1, SHINGLE):  # a shingle's hash combines its words' in order
        shingles = shingles * _MULTIPLIER + hashes[j:j + count]
    shingles ^= shingles >> np.uint64(29)
    shingles *= _MIXER
    shingles ^= shingles >> np.uint64(32)
    owner = np.repeat(np.arange(len(texts)), lengths)[:count]
    starts = np.cumsum(lengths) - lengths
    inside = np.arange(count) - starts[owner] <= lengths[owner] - SHINGLE  # no shingle spans two texts
    shingles, owner = shingles[inside], owner[inside]
    bins = (shingles >> np.uint64(64 - _BIN_BITS)).astype(np.int64)
    found = np.full(len(texts) * NUM_PERM, _EMPTY, np.uint32)
    np.minimum.at(found, owner * NUM_PERM + bins, (shingles & np.uint64(0xFFFFFFFF)).astype(np.uint32))
    found = found.reshape(len(texts), NUM_PERM)
    empty = found == _EMPTY
    if empty.any():  # an empty bin borrows from the first full bin on its own fixed random probe path
        full = ~empty[:, _PROBES]  # texts x bins x probes
        first = full.argmax(axis=2)
        source = np.where(full.any(axis=2), _PROBES[np.arange(NUM_PERM), first], _next_full(empty))
        found = np.where(empty, np.take_along_axis(found, source, axis=1) ^ _BORROWED, found)
    found[lengths < MIN_WORDS] = _EMPTY  # too short to compare: a few shingles make a noisy estimate
    return found


def _next_full(empty: np.ndarray) -> np.ndarray:
    """For each bin, the next full bin (circularly): where 64 probes all missed."""
    full_at = np.where(empty, 3 * NUM_PERM, np.arange(NUM_PERM))
    ahead = np.concatenate([full_at, full_at + NUM_PERM], axis=1)
    return np.minimum.accumulate(ahead[:, ::-1], axis=1)[:, ::-1][:, :NUM_PERM] % NUM_PERM


def text_keys(sentences: list[str]) -> pa.Array:
    """One key per sentence: equal for the same words, whatever the case and spacing."""
    return pa.array([hashlib.blake2b(" ".join(s.lower().split()).encode(), digest_size=8).hexdigest()
                     for s in sentences], pa.string())


def bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """How many bands of how many rows make LSH err least at ``threshold``: the equal-weight
    sum of the chance of pairing texts below it and of missing texts above it (integrated
    over similarity), as datasketch's MinHashLSH chooses them (tests compare the two)."""
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], float)
    b, r = pairs[:, :1], pairs[:, 1:]
    below, above = np.linspace(0, threshold, 2001), np.linspace(threshold, 1, 2001)
    false_pairs = np.trapezoid(1 - (1 - below ** r) ** b, below, axis=1)
    misses = np.trapezoid((1 - above ** r) ** b, above, axis=1)
    best = int(np.argmin(false_pairs + misses))
    return int(pairs[best, 0]), int(pairs[best, 1])


class NearDuplicates:
    """Clusters of near-duplicate articles, built one chunk at a time in input order.

    Locality-sensitive hashing by bands (:func:`bands` chooses how many, as datasketch's
    MinHashLSH does); each candidate is then checked on the signatures. The band lookup
    is a Python dict over keys computed in numpy, because datasketch's own index spent
    0.15 ms an article in this process, where the workers cannot help, and importing it
    (with scipy) 0.3 s (benchmarks/near_duplicates.py).
    Memory: one signature (512 bytes) and one dict entry per band (about 2.5 kB in all)
    per article.
    """

    def __init__(self, threshold: float = THRESHOLD) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._bands, self._rows = bands(threshold)
        rng = np.random.default_rng(2021)
        self._weights = rng.integers(1, 2**63, (self._rows,), dtype=np.uint64) | np.uint64(1)
        self._salts = rng.integers(0, 2**63, (self._bands,), dtype=np.uint64)
        self._buckets: dict[int, int | list[int]] = {}
        self._signatures = np.zeros((1024, NUM_PERM), np.uint32)
        self._parent: list[int] = []
        self.article_ids: list[str] = []
        self.merged = False  # two clusters already written joined: their names must be redone

    def add(self, article_ids: list[str], sigs: np.ndarray) -> list[int]:
        """Index the articles in order; return, for each, the index of its cluster's first article."""
        sigs = np.asarray(sigs, np.uint32).reshape(len(article_ids), NUM_PERM)
        start = len(self._parent)
        while start + len(article_ids) > len(self._signatures):
            self._signatures = np.concatenate([self._signatures, np.zeros_like(self._signatures)])
        self._signatures[start:start + len(article_ids)] = sigs
        bands = sigs[:, :self._bands * self._rows].reshape(-1, self._bands, self._rows).astype(np.uint64)
        keys = ((bands * self._weights).sum(axis=2) ^ self._salts).tolist()  # wraps modulo 2**64
        comparable = ~(sigs == _EMPTY).all(axis=1)  # a text too short has no signature
        firsts = []
        for offset, article_id in enumerate(article_ids):
            index = start + offset
            self._parent.append(index)
            self.article_ids.append(article_id)
            if comparable[offset]:
                self._join(index, keys[offset])
            firsts.append(self._root(index))
        return firsts

    def _join(self, index: int, keys: list[int]) -> None:
        buckets, candidates = self._buckets, set()
        for key in keys:
            found = buckets.get(key)
            if found is None:
                buckets[key] = index
            elif isinstance(found, int):
                candidates.add(found)
                buckets[key] = [found, index]
            else:
                candidates.update(found)
                found.append(index)
        if not candidates:
            return
        ordered = np.fromiter(candidates, np.int64, len(candidates))
        similar = ordered[(self._signatures[ordered] == self._signatures[index]).mean(axis=1) >= self.threshold]
        roots = sorted({self._root(int(c)) for c in similar})
        for other in roots[1:]:
            self._parent[other] = roots[0]
            self.merged = True
        if roots:
            self._parent[index] = roots[0]

    def _root(self, index: int) -> int:
        parent = self._parent
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    def cluster_ids(self) -> dict[str, str]:
        """Article id -> the id of its cluster's first article, for every article added."""
        return {a: self.article_ids[self._root(i)] for i, a in enumerate(self.article_ids)}
