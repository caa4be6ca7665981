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


def audit_push(studio, scores: str | Path, project: str, n: int, *, by: list[str] | None = None,
               allocation: str = "equal", seed: int = 0, context: int = 2, ledger_dir=None,
               progress: bool = False) -> AuditResult:
    """Draw (or redraw, identically) the audit of ``scores`` and push it to ``project`` without predictions.

    ``n`` is the total sample size, split over the groups of ``by`` (default: by
    source) equally, or in proportion to their sizes. Re-running adds nothing.
    """
    from stance.labels.push import LEDGER_DIR, build_tasks, open_project, send_tasks
    from stance.schema import load_schema

    if n < 1:
        raise StanceError(f"the audit needs at least one sentence, not {n}")
    by = ["source"] if by is None else list(by)
    opened = open_scores(scores)
    check_fields(opened, by)
    columns = list(dict.fromkeys(["sentence_id", "article_id", "text", "title", "source", "date", "url", *by]))
    frame = opened.sentences([c for c in columns if c in opened.columns()])
    if frame.empty:
        raise StanceError(f"{opened.path}: the scores hold no sentences to audit")
    rows, strata = draw(group_keys(frame, by), n, allocation, seed)
    design = {"kind": "stance.audit", "seed": seed, "by": by, "allocation": allocation, "n": n,
              "project": project, "run_id": opened.manifest["model"]["run_id"], "sentences": len(frame),
              "strata": strata}
    previous = read_design(opened.path)
    if previous is not None:
        same = {k: previous.get(k) for k in design}
        if same != design:
            changed = sorted(k for k in design if previous.get(k) != design[k])
            raise StanceError(f"{opened.path / DESIGN_FILE} holds an audit drawn differently (it differs in "
                              f"{', '.join(changed)}); an audit keeps its design: score into a new directory "
                              "for another one, or delete that file first")
    sentences = {c: frame[c].tolist() if c in frame else [None] * len(frame)
                 for c in ("sentence_id", "article_id", "text", "title", "source", "date", "url")}
    schema = load_schema()
    proj, created, ledger = open_project(studio, project, schema, False, ledger_dir or LEDGER_DIR)
    present = ledger.sync(studio, proj.id)
    design.update(created=(previous or {}).get("created")
                  or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  project_id=proj.id, url=studio.url, sentence_ids=[sentences["sentence_id"][i] for i in rows])
    path = opened.path / DESIGN_FILE
    path.write_text(json.dumps(design, indent=1) + "\n", encoding="utf-8")
    fresh = [int(i) for i in rows if sentences["sentence_id"][i] not in present]
    send_tasks(studio, proj.id, ledger, build_tasks(sentences, fresh, context), f"audit to {project}", progress)
    return AuditResult(path, proj.id, len(rows), len(fresh), strata)
