"""Annotator agreement: Krippendorff's alpha (nominal) and pairwise agreement per dimension."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations

from rich.table import Table

from stance.labels.dataset import Annotation, load_labelled, read_annotations
from stance.schema import Schema, load_schema


def krippendorff_alpha_nominal(units: list[list[str]]) -> float | None:
    """Alpha over units (the values several coders gave one item); None when undefined.

    Units with fewer than two values carry no information about agreement and are
    left out, as the coefficient prescribes.
    """
    coincidences: Counter = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        for c in counts:
            for k in counts:
                pairs = counts[c] * (counts[k] - (1 if c == k else 0))
                if pairs:
                    coincidences[(c, k)] += pairs / (m - 1)
    totals: Counter = Counter()
    for (c, _), value in coincidences.items():
        totals[c] += value
    n = sum(totals.values())
    if n <= 1:
        return None
    observed = sum(v for (c, k), v in coincidences.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if expected == 0:
        return 1.0 if observed == 0 else None
    return 1.0 - (n - 1) * observed / expected


def agreement(annotations: list[Annotation], schema: Schema, sentence_ids: Iterable[str] = ()) -> dict:
    """Alpha and pairwise agreement per dimension, and sentences by number of annotators
    (``sentence_ids`` adds the sentences nobody annotated to that count)."""
    live = [a for a in annotations if not a.cancelled]
    by_sentence: dict[str, dict[str, Annotation]] = defaultdict(dict)
    for a in live:
        by_sentence[a.sentence_id][a.annotator] = a  # the latest per annotator counts
    annotator_counts = Counter(len(v) for v in by_sentence.values())
    unannotated = len(set(sentence_ids) - set(by_sentence))
    if unannotated:
        annotator_counts[0] = unannotated
    result = {
        "annotators": sorted({a.annotator for a in live}),
        "sentences_by_annotators": {str(k): annotator_counts[k] for k in sorted(annotator_counts)},
        "cancelled": sum(a.cancelled for a in annotations),
        "dimensions": {},
    }
    for dim in schema.dimensions:
        units = [[a.labels[dim.name] for a in per.values() if dim.name in a.labels] for per in by_sentence.values()]
        pairs = {}
        for first, second in combinations(result["annotators"], 2):
            shared = [(per[first].labels[dim.name], per[second].labels[dim.name]) for per in by_sentence.values()
                      if first in per and second in per
                      and dim.name in per[first].labels and dim.name in per[second].labels]
            if shared:
                pairs[f"{first} ~ {second}"] = {"n": len(shared),
                                                "agreement": sum(x == y for x, y in shared) / len(shared)}
        alpha = krippendorff_alpha_nominal(units)
        result["dimensions"][dim.name] = {
            "alpha": None if alpha is None else round(alpha, 4),
            "items_with_2_or_more": sum(len(u) >= 2 for u in units),
            "pairwise": pairs,
        }
    return result


def dataset_agreement(path, schema: Schema | None = None) -> dict:
    """:func:`agreement` of a dataset written by ``labels pull`` or ``labels import``."""
    schema = schema or load_schema()
    ids = load_labelled(path, schema)["sentence_id"]
    return agreement(read_annotations(path, schema), schema, ids)


def agreement_tables(report: dict) -> list[Table]:
    """Rich tables for the terminal: alpha per dimension, pairwise agreement, coverage."""
    alpha = Table(title="Agreement per dimension")
    alpha.add_column("dimension")
    alpha.add_column("Krippendorff's alpha", justify="right")
    alpha.add_column("sentences with 2+ annotators", justify="right")
    for name, dim in report["dimensions"].items():
        alpha.add_row(name, "n/a" if dim["alpha"] is None else f"{dim['alpha']:.3f}",
                      str(dim["items_with_2_or_more"]))
    pairwise = Table(title="Pairwise agreement (share of shared sentences labelled alike)")
    pairwise.add_column("annotators")
    dims = list(report["dimensions"])
    for name in dims:
        pairwise.add_column(name, justify="right")
    pair_names = sorted({p for d in report["dimensions"].values() for p in d["pairwise"]})
    for pair in pair_names:
        cells = []
        for name in dims:
            stats = report["dimensions"][name]["pairwise"].get(pair)
            cells.append(f"{stats['agreement']:.2f} (n={stats['n']})" if stats else "-")
        pairwise.add_row(pair, *cells)
    coverage = Table(title="Sentences by number of annotators")
    coverage.add_column("annotators", justify="right")
    coverage.add_column("sentences", justify="right")
    for k, v in report["sentences_by_annotators"].items():
        coverage.add_row(k, str(v))
    return [alpha, pairwise, coverage]
