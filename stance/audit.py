"""``stance audit push``: a random sample of scored sentences for people to label.

An audit is what makes an estimate's interval hold whatever the model's errors: a
simple random sample of the scored sentences, stratified by group, labelled by
people. So it must be random, never chosen by a model (active learning's picks are
not a random sample), and the tasks carry no predictions, so annotators do not
anchor on them. The design (seed, strata, sizes, inclusion probabilities, the drawn
sentence ids) is saved as ``audit.json`` beside the scores; ``stance estimate
--audit`` reads it to weight each labelled sentence by its stratum.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stance.errors import StanceError
from stance.scores import check_fields, group_keys, open_scores

DESIGN_FILE = "audit.json"
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


def read_design(scores: str | Path) -> dict | None:
    """The audit design saved beside ``scores``, or None when no audit was drawn there."""
    path = Path(scores) / DESIGN_FILE
    if not path.is_file():
        return None
    try:
        design = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StanceError(f"{path}: not a readable audit design ({exc})") from None
    if design.get("kind") != "stance.audit":
        raise StanceError(f"{path}: not an audit design written by `stance audit push`")
    return design


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


def draw(keys: pd.DataFrame, n: int, allocation: str = "equal", seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """Rows of a stratified simple random sample of ``n`` over the strata of ``keys`` (one
    column per field; no columns: one stratum), and the design of each stratum.

    Each stratum's draw depends only on the seed and its own key, so strata do not
    shift one another's samples.
    """
    fields = list(keys.columns)
    codes = (keys.groupby(fields, sort=True).ngroup().to_numpy() if fields
             else np.zeros(len(keys), dtype=np.int64))
    table = (keys.assign(_h=codes).drop_duplicates("_h").sort_values("_h") if fields
             else pd.DataFrame({"_h": [0]}))
    population = np.bincount(codes)
    sizes = allocate(population, n, allocation)
    rows, strata = [], []
    for h, record in enumerate(table.to_dict("records")):
        key = {f: str(record[f]) for f in fields}
        members = np.flatnonzero(codes == h)
        rng = np.random.default_rng([seed, zlib.crc32(json.dumps(key, sort_keys=True).encode())])
        rows.append(np.sort(rng.choice(members, size=int(sizes[h]), replace=False)))
        strata.append({"key": key, "population": int(population[h]), "sample": int(sizes[h]),
                       "inclusion_probability": float(sizes[h] / population[h])})
    return np.concatenate(rows), strata


@dataclass
class AuditPlan:
    """A drawn audit: the scored sentences it was drawn from, the drawn rows, and the design."""

    scores: Path
    sentences: dict[str, list]
    rows: np.ndarray
    design: dict

    def write(self, **extra) -> Path:
        """Save the design as ``audit.json`` beside the scores, with the drawn sentence ids."""
        path = self.scores / DESIGN_FILE
        ids = [self.sentences["sentence_id"][i] for i in self.rows]
        path.write_text(json.dumps({**self.design, **extra, "sentence_ids": ids}, indent=1) + "\n", encoding="utf-8")
        return path


def plan(scores: str | Path, n: int, *, by: list[str] | None = None, allocation: str = "equal",
         seed: int = 0) -> AuditPlan:
    """Draw the audit of ``scores`` (nothing is written): ``n`` sentences in all, split over the
    groups of ``by`` (default: by source) equally or in proportion to their sizes."""
    if n < 1:
        raise StanceError(f"the audit needs at least one sentence, not {n}")
    by = ["source"] if by is None else list(by)
    opened = open_scores(scores)
    check_fields(opened, by)  # also refuses scores without sentences
    have = opened.columns()
    fields = ("sentence_id", "article_id", "text", "title", "source", "date", "url")
    frame = opened.sentences([c for c in dict.fromkeys([*fields, *by]) if c in have])
    rows, strata = draw(group_keys(frame, by), n, allocation, seed)
    design = {"kind": "stance.audit", "seed": seed, "by": by, "allocation": allocation, "n": n,
              "run_id": opened.manifest["model"]["run_id"], "sentences": len(frame), "strata": strata}
    sentences = {c: frame[c].tolist() if c in frame else [None] * len(frame) for c in fields}
    return AuditPlan(opened.path, sentences, rows, design)


def audit_push(studio, scores: str | Path, project: str, n: int, *, by: list[str] | None = None,
               allocation: str = "equal", seed: int = 0, context: int = 2, ledger_dir=None,
               progress: bool = False) -> AuditResult:
    """Draw (or redraw, identically) the audit of ``scores`` and push it to ``project`` without
    predictions; see :func:`plan`. Re-running adds nothing."""
    drawn = plan(scores, n, by=by, allocation=allocation, seed=seed)
    return push_plan(studio, drawn, project, context=context, ledger_dir=ledger_dir, progress=progress)


def push_plan(studio, drawn: AuditPlan, project: str, *, context: int = 2, ledger_dir=None,
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
