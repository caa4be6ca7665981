"""``stance audit push``: a random sample of scored sentences for people to label.

An audit is what makes an estimate's interval hold whatever the model's errors: a
random sample of the scored sentences, stratified by group, labelled by people. So
every sentence's chance of being drawn must be known: a simple random sample per
stratum, or an *active* one (each sentence drawn on its own with a probability that
grows with the model's uncertainty, and weighted back by it: Zrnic & Candes 2024).
Never a sample chosen by a model without known probabilities (active learning's
picks). The tasks carry no predictions, so annotators do not anchor on them. The
design (seed, strata, sizes, inclusion probabilities, the drawn sentence ids) is
saved as ``audit.json`` beside the scores; ``stance estimate --audit`` reads it to
weight each labelled sentence.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stance import quantify
from stance.errors import StanceError
from stance.findings.scores import DESIGN_FILE, check_fields, group_keys, open_scores, read_design

ALLOCATIONS = ("equal", "proportional")


@dataclass
class AuditResult:
    design: Path
    project_id: int
    sampled: int
    created: int
    strata: list[dict]

    def __str__(self) -> str:
        sizes = ", ".join(f"{'/'.join(s['key'].values()) or 'all'}: {s['sample']} of {s['population']:,}"
                          for s in self.strata)
        return (f"audit of {self.sampled:,} sentences ({sizes}) in project {self.project_id}: {self.created:,} new "
                f"tasks; design in {self.design}")


def allocate(population: np.ndarray, n: int, allocation: str) -> np.ndarray:
    """Sample sizes per stratum: ``n`` split equally (remainders to the first strata) or in
    proportion to size (largest remainders), never more than a stratum holds."""
    if allocation not in ALLOCATIONS:
        raise StanceError(f"the allocation must be one of {', '.join(ALLOCATIONS)}, not {allocation!r}")
    if allocation == "equal":
        sizes = np.full(len(population), n // len(population))
        sizes[: n % len(population)] += 1
    else:
        exact = n * population / population.sum()
        sizes = np.floor(exact).astype(int)
        sizes[np.argsort(-(exact - sizes), kind="stable")[: n - sizes.sum()]] += 1
    return np.minimum(sizes, population)


def draw(keys: pd.DataFrame, n: int, allocation: str = "equal", seed: int = 0,
         error: np.ndarray | None = None) -> tuple[np.ndarray, list[dict], np.ndarray]:
    """Rows of a stratified random sample of ``n`` over the strata of ``keys`` (one column per
    field; no columns: one stratum), the design of each stratum, and each drawn row's inclusion
    probability.

    Without ``error`` each stratum is a simple random sample of its allocated size. With
    ``error`` (the model's expected error per row, :func:`stance.quantify.expected_error`) it
    is an active sample: each row is drawn on its own with a probability that favours the
    uncertain ones and averages to the stratum's allocation (its size then varies a little).
    Each stratum's draw depends only on the seed and its own key, so strata do not shift one
    another's samples.
    """
    fields = list(keys.columns)
    codes = (keys.groupby(fields, sort=True).ngroup().to_numpy() if fields
             else np.zeros(len(keys), dtype=np.int64))
    table = (keys.assign(_h=codes).drop_duplicates("_h").sort_values("_h") if fields
             else pd.DataFrame({"_h": [0]}))
    population = np.bincount(codes)
    sizes = allocate(population, n, allocation)
    rows, strata, probabilities = [], [], []
    for h, record in enumerate(table.to_dict("records")):
        key = {f: str(record[f]) for f in fields}
        members = np.flatnonzero(codes == h)
        rng = np.random.default_rng([seed, zlib.crc32(json.dumps(key, sort_keys=True).encode())])
        if error is None:
            drawn = np.sort(rng.choice(members, size=int(sizes[h]), replace=False))
            pi = np.full(len(drawn), sizes[h] / population[h])
        else:
            chance = quantify.active_probabilities(error[members], float(sizes[h]))
            taken = rng.random(len(members)) < chance
            drawn, pi = members[taken], chance[taken]
        rows.append(drawn)
        probabilities.append(pi)
        strata.append({"key": key, "population": int(population[h]), "sample": int(len(drawn)),
                       "inclusion_probability": float(sizes[h] / population[h])})
    return np.concatenate(rows), strata, np.concatenate(probabilities)


@dataclass
class DrawnAudit:
    """A drawn audit: the scored sentences it was drawn from, the drawn rows, and the design."""

    scores: Path
    sentences: dict[str, list]
    rows: np.ndarray
    design: dict

    probabilities: np.ndarray

    def write(self, **extra) -> Path:
        """Save the design as ``audit.json`` beside the scores, with the drawn sentence ids (and, for an
        active audit, each one's inclusion probability)."""
        path = self.scores / DESIGN_FILE
        ids = [self.sentences["sentence_id"][i] for i in self.rows]
        drawn = {"sentence_ids": ids}
        if self.design.get("sampling") == "active":
            drawn["inclusion_probabilities"] = [float(p) for p in self.probabilities]
        path.write_text(json.dumps({**self.design, **extra, **drawn}, indent=1) + "\n", encoding="utf-8")
        return path


def draw_audit(scores: str | Path, n: int, *, by: list[str] | None = None, allocation: str = "equal",
         seed: int = 0, active: bool = False) -> DrawnAudit:
    """Draw the audit of ``scores`` (nothing is written): ``n`` sentences in all, split over the
    groups of ``by`` (default: by source) equally or in proportion to their sizes. ``active``
    draws each group's share by the model's uncertainty (see :func:`draw`) instead of uniformly."""
    if n < 1:
        raise StanceError(f"the audit needs at least one sentence, not {n}")
    by = ["source"] if by is None else list(by)
    opened = open_scores(scores)
    check_fields(opened, by)  # also refuses scores without sentences
    have = opened.columns()
    fields = ("sentence_id", "article_id", "text", "title", "source", "date", "url")
    probabilities = [f"{dim}_p_{name}" for dim, names in opened.labels.items() for name in names] if active else []
    frame = opened.sentences([c for c in dict.fromkeys([*fields, *by, *probabilities]) if c in have])
    error = (quantify.expected_error(*(frame[[f"{dim}_p_{name}" for name in names]].to_numpy(np.float64)
                                       for dim, names in opened.labels.items())) if active else None)
    rows, strata, chances = draw(group_keys(frame, by), n, allocation, seed, error)
    design = {"kind": "stance.audit", "seed": seed, "by": by, "allocation": allocation, "n": n,
              "sampling": "active" if active else "random",
              "run_id": opened.manifest["model"]["run_id"], "sentences": len(frame), "strata": strata}
    sentences = {c: frame[c].tolist() if c in frame else [None] * len(frame) for c in fields}
    return DrawnAudit(opened.path, sentences, rows, design, chances)


@dataclass
class AuditSize:
    """How many audit labels each group needs for intervals of a target width, with the model's
    predictions (PPI++) and with the labels alone."""

    scores: Path
    width: float
    level: float
    by: list[str]
    groups: list[dict]   # key, sentences, with_model, alone, widest (the dimension and class that decide)

    @property
    def with_model(self) -> int:
        return sum(g["with_model"] for g in self.groups)

    @property
    def alone(self) -> int:
        return sum(g["alone"] for g in self.groups)

    def __str__(self) -> str:
        lines = [f"for {self.level:.0%} intervals at most {100 * self.width:.0f} points wide on every class share "
                 f"per {', '.join(self.by) or 'corpus'}:"]
        for g in self.groups:
            name = " / ".join(g["key"].values()) or "all"
            lines.append(f"  {name}: {g['with_model']:,} audit labels with the model's predictions (labels alone "
                         f"{g['alone']:,}; {g['sentences']:,} sentences; decided by {g['widest']})")
        lines.append(f"in all {self.with_model:,} (labels alone {self.alone:,}). This assumes the model is as "
                     "informative on these sentences as in its cross-validation; after the audit, `stance "
                     "estimate --audit` gives the widths reached.")
        if len(self.groups) >= quantify.POOL_MIN_GROUPS:
            lines.append(f"with {len(self.groups):,} groups audited at random, `stance estimate` pools them, and its "
                         "intervals come out narrower than these sizes are planned for (on average over the groups; "
                         "--pool never keeps each group's own)")
        largest = max((g["with_model"] for g in self.groups), default=0)
        push = f"draw it with: stance audit push {self.scores}"
        lines.append(f"{push} --n {largest * len(self.groups)} --by {' --by '.join(self.by)} --project NAME   "
                     f"(equal allocation: {largest:,} per group)" if self.by
                     else f"{push} --n {self.with_model} --project NAME")
        return "\n".join(lines)


def plan(scores: str | Path, width: float, *, by: list[str] | None = None, level: float = 0.95,
         model: str | Path | None = None) -> AuditSize:
    """How many audit labels per group of ``by`` (default: source) give intervals at most ``width``
    wide (a fraction: 0.2 is 20 points) on every class share, from the model's errors: the group's
    share is taken to be the model's mean probability, and PPI++ to remove the part of its variance
    that the model's probability explained in the run's cross-validation (``model``: another run)."""
    from stance.findings.estimate import run_references
    if not 0 < width < 1:
        raise StanceError("{width} must lie between 0 and 1 (0.2 is 20 points)", width=width)
    if not 0 < level < 1:
        raise StanceError(f"the confidence level must lie strictly between 0 and 1, not {level}")
    by = ["source"] if by is None else list(by)
    opened = open_scores(scores)
    check_fields(opened, by)
    labels = opened.labels
    references, _ = run_references(model or opened.run_path, labels)
    explained = {dim: reference.squared_correlations() for dim, reference in references.items()}
    columns = [f"{dim}_p_{name}" for dim, names in labels.items() for name in names]
    frame = opened.sentences([*by, *columns])
    keys = group_keys(frame, by)
    fields = list(keys.columns)
    codes = keys.groupby(fields, sort=True).ngroup().to_numpy() if fields else np.zeros(len(frame), dtype=np.int64)
    shares = frame[columns].groupby(codes).mean()       # the model's mean probability per group: one pass
    sizes = np.bincount(codes)
    first = keys.assign(_g=codes).drop_duplicates("_g").set_index("_g")
    groups = []
    for g in range(len(sizes)):
        with_model, alone, widest = 0, 0, ""
        for dim, names in labels.items():
            for c, name in enumerate(names):
                share = float(shares.at[g, f"{dim}_p_{name}"])
                variance = share * (1 - share)
                needed = quantify.audit_size(variance * (1 - explained[dim][c]), width, int(sizes[g]), level)
                if needed > with_model:
                    with_model, widest = needed, f"{dim}: {name}"
                alone = max(alone, quantify.audit_size(variance, width, int(sizes[g]), level))
        groups.append({"key": {f: str(first.at[g, f]) for f in fields}, "sentences": int(sizes[g]),
                       "with_model": with_model, "alone": alone, "widest": widest})
    return AuditSize(opened.path, width, level, by, groups)


def audit_push(studio, scores: str | Path, project: str, n: int, *, by: list[str] | None = None,
               allocation: str = "equal", seed: int = 0, active: bool = False, context: int = 2, ledger_dir=None,
               progress: bool = False) -> AuditResult:
    """Draw (or redraw, identically) the audit of ``scores`` and push it to ``project`` without
    predictions; see :func:`draw_audit`. Re-running adds nothing."""
    drawn = draw_audit(scores, n, by=by, allocation=allocation, seed=seed, active=active)
    return push_drawn(studio, drawn, project, context=context, ledger_dir=ledger_dir, progress=progress)


def push_drawn(studio, drawn: DrawnAudit, project: str, *, context: int = 2, ledger_dir=None,
              progress: bool = False) -> AuditResult:
    """Push a drawn audit to ``project`` (tasks without predictions) and save its design beside the scores;
    an ``audit.json`` drawn differently is never overwritten."""
    from stance.labels.push import LEDGER_DIR, build_tasks, open_project, send_tasks
    from stance.schema import load_schema

    drawn.design["project"] = project
    previous = read_design(drawn.scores)
    if previous is not None and any(previous.get(k) != v for k, v in drawn.design.items()):
        changed = sorted(k for k, v in drawn.design.items() if previous.get(k) != v)
        raise StanceError(f"{drawn.scores / DESIGN_FILE} holds an audit drawn differently (it differs in "
                          f"{', '.join(changed)}); an audit keeps its design: score into a new directory for "
                          "another one, or delete that file first")
    proj, _, ledger = open_project(studio, project, load_schema(), False, ledger_dir or LEDGER_DIR)
    present = ledger.sync(studio, proj.id)
    created = (previous or {}).get("created") or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path = drawn.write(created=created, project_id=proj.id, url=studio.url)
    ids = drawn.sentences["sentence_id"]
    fresh = [int(i) for i in drawn.rows if ids[i] not in present]
    send_tasks(studio, proj.id, ledger, build_tasks(drawn.sentences, fresh, context), f"audit to {project}",
               progress)
    return AuditResult(path, proj.id, len(drawn.rows), len(fresh), drawn.design["strata"])
