"""How well `stance estimate` measures shares: a simulation on two labelled sets.

    python benchmarks/estimate_simulation.py [--repeats 20] [--outlets 20] [--per-outlet 300] [--audit 40]
        [--config experiments/default.toml] [--only simulation|shift]

1. **news-like** (ours, synthetic: `newslike.labelled_sentence`, tone, 45% of labels
   redrawn at random), 8,000 sentences: the default model reaches a macro-F1 of about
   0.58 on it, the quality of the public anchor in the issue.
2. **BASIL** (real news, from ../shared): 3-class bias polarity (none, negative,
   positive; the 15 `mixed` ones dropped). The default model reaches about 0.36: a
   hard task, shown as the case where corrections stop working.

Each set is split in half at random by event (news-like: by article): the default
config (`experiments/default.toml`) is trained on one half, with 5-fold
cross-validated predictions grouped by event (what a run keeps), and the other half
is the pool the outlets are drawn from. Each repeat makes `--outlets` synthetic
outlets whose class mixes are drawn from a flat Dirichlet, samples `--per-outlet`
pool sentences per outlet to that mix, and cuts them into articles of 15 sentences.
Printed, in one run, for each set:

* without an audit: the mean absolute error of the shares (percentage points) of
  every method, and the ratio to classify and count (target for the chosen one <= 0.6);
* with an audit of `--audit` random sentences per outlet: coverage of the 95%
  intervals over outlet x class cells (target >= 93%) and their mean width, PPI++
  against the audit labels alone (target: narrower), and PPI++ pooled across the
  outlets (`quantify.pooled_shares`, what `stance estimate` does with 20 or more
  audited groups; its intervals cover on average over the outlets);
* for BASIL, its three real outlets (fox, nyt, hpo) of the pool half: true shares
  against classify and count and the chosen method.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

sys.path.insert(0, str(Path(__file__).parent))
from newslike import labelled_sentence  # noqa: E402

from stance import quantify  # noqa: E402
from stance.experiments.config import load_config  # noqa: E402
from stance.experiments.pipeline import build_pipeline  # noqa: E402

BASIL = Path(__file__).resolve().parents[2] / "shared" / "basil" / "sentences.jsonl"
CLASSES = ["none", "negative", "positive"]
ARTICLE = 15


def newslike(sentences: int = 8000, noise: float = 0.45, seed: int = 1):
    """Our own labelled tone set: texts, labels, articles of 10 (the unit of the split)."""
    rng = random.Random(seed)
    names = ["conciliatory", "adversarial", "neutral"]
    texts, y = [], []
    for _ in range(sentences):
        text, labels = labelled_sentence(rng, noise)
        texts.append(text)
        y.append(names.index(labels["tone"]))
    groups = np.arange(sentences) // 10
    return np.array(texts, dtype=object), np.array(y), groups, None, groups, names


def basil(path: Path = BASIL):
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    rows = [r for r in rows if r["bias_polarity"] in CLASSES]
    texts = np.array([r["text"] for r in rows], dtype=object)
    y = np.array([CLASSES.index(r["bias_polarity"]) for r in rows])
    events = np.array([r["event"] for r in rows])
    sources = np.array([r["source"] for r in rows])
    articles = np.unique([r["article_id"] for r in rows], return_inverse=True)[1]
    return texts, y, events, sources, articles, CLASSES


CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "default.toml"


def train(texts, y, events, seed: int, config_path: Path = CONFIG, sources=None, articles=None):
    """The config's pipeline (``--config``, default ``experiments/default.toml``), its grouped CV
    probabilities (the run's reference, with folds, articles and sources as a run keeps them) and
    the final fit."""
    config = load_config(config_path)
    proba = np.zeros((len(y), len(CLASSES)))
    folds = np.zeros(len(y), dtype=np.int64)
    for fold, (tr, te) in enumerate(StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(texts, y, events)):
        fitted = build_pipeline(config).fit(texts[tr], y[tr])
        proba[te] = fitted.predict_proba(texts[te])
        folds[te] = fold
    return (quantify.Reference(proba, y, folds, articles if articles is not None else events, sources),
            build_pipeline(config).fit(texts, y))


def audits(proba, truth_y, k: int, n: int, rng, sample=None):
    """One group's audits of ``n`` sentences, per class: a simple random sample (PPI++, and its labels
    alone; ``sample``, the rows drawn, when given) and an active one of ``n`` expected, drawn by the
    model's uncertainty (Poisson sampling)."""
    size = len(truth_y)
    sample = rng.choice(size, n, replace=False) if sample is None else sample
    pi = quantify.active_probabilities(quantify.expected_error(proba), n)
    drawn = np.flatnonzero(rng.random(size) < pi)
    out = []
    for label, coefficient in (("ppi++", None), ("audit alone", 0.0)):
        out.append((label, [quantify.audit_share(proba[:, c].sum(), size, (truth_y[sample] == c) * 1.0,
                                                 proba[sample, c], np.ones(n, bool), np.zeros(n, np.int64),
                                                 np.array([size]), coefficient=coefficient) for c in range(k)]))
    out.append(("active ppi++", [quantify.active_share(proba[:, c].sum(), size, (truth_y[drawn] == c) * 1.0,
                                                       proba[drawn, c], pi[drawn], np.ones(len(drawn), bool))
                                 for c in range(k)]))
    return out


def pooled(groups, k: int, level: float):
    """The simple random audits of many groups pooled per class, as `stance estimate` pools them (one
    PPI++ coefficient for all, then ``quantify.pooled_shares``): for each group ``(proba, truth_y,
    sample)`` (its sentences' probabilities and labels, the audited rows), each class's (low, high)."""
    out = []
    codes = np.concatenate([np.full(len(sample), g) for g, (_, _, sample) in enumerate(groups)])
    for c in range(k):
        hits = np.concatenate([truth_y[sample] == c for _, truth_y, sample in groups]) * 1.0
        f = np.concatenate([proba[sample, c] for proba, _, sample in groups])
        coefficient, keep = quantify.shared_coefficient(hits, f, codes)
        direct = [quantify.audit_share(proba[:, c].sum(), len(truth_y), (truth_y[sample] == c) * 1.0,
                                       proba[sample, c], np.ones(len(sample), bool), np.zeros(len(sample), np.int64),
                                       np.array([len(truth_y)]), coefficient=coefficient).estimate
                  for proba, truth_y, sample in groups]
        result = quantify.pooled_shares(np.array(direct), np.array([proba[:, c].mean() for proba, *_ in groups]),
                                        np.array([len(sample) for _, _, sample in groups]),
                                        np.array([len(truth_y) for _, truth_y, _ in groups]), keep, level,
                                        np.array([np.sum(truth_y[sample] == c) for _, truth_y, sample in groups]))
        out.append((result.low, result.high))
    return [[(out[c][0][g], out[c][1][g]) for c in range(k)] for g in range(len(groups))]


def real_shift(data, args) -> None:
    """BASIL under real shift: the default model trained on some outlets, shares estimated on another.

    Two designs, each over every outlet as the target:
    * leave one outlet out: trained on the other two (the run knows their sources, so it
      checks its methods by leaving each of them out);
    * one source to another: trained on one outlet only (no sources to leave out: the run
      checks by artificial prevalence), applied to each of the other two.
    The target outlet's events are cut into groups of `--events-per-group` events (5: about 5
    articles each, 20 groups, enough to pool the audits): one estimate per group x class, against
    the group's true share.
    """
    texts, y, events, sources, article_ids, classes = data
    k = len(classes)
    rng = np.random.default_rng(args.seed)
    outlets = sorted(set(sources))
    designs = [(f"leave {o} out", [t for t in outlets if t != o], o) for o in outlets]
    designs += [(f"{t} -> {o}", [t], o) for t in outlets for o in outlets if o != t]
    results = {"leave one outlet out": [], "one source to another": []}
    started = time.perf_counter()
    for label, train_outlets, target in designs:
        train_rows = np.isin(sources, train_outlets)
        reference, model = train(texts[train_rows], y[train_rows], events[train_rows], args.seed, args.config,
                                 sources=sources[train_rows], articles=article_ids[train_rows])
        evidence = quantify.measure(reference, seed=args.seed)
        target_rows = np.flatnonzero(sources == target)
        proba, truth_y = model.predict_proba(texts[target_rows]), y[target_rows]
        target_events = np.unique(events[target_rows])
        order = rng.permutation(len(target_events))
        event_group = dict(zip(target_events[order], np.arange(len(target_events)) // args.events_per_group))
        groups = np.array([event_group[e] for e in events[target_rows]])
        articles = np.unique(article_ids[target_rows], return_inverse=True)[1]
        n_groups = groups.max() + 1
        truth = np.stack([np.bincount(truth_y[groups == g], minlength=k) / (groups == g).sum()
                          for g in range(n_groups)])
        row = {"design": label, "evidence": evidence, "chosen": evidence.chosen, "errors": {}, "cover": {},
               "width": {}}
        for method in [*quantify.QUANTIFIERS, "auto"]:
            est = quantify.estimate_groups(proba, groups, articles, reference, method, evidence=evidence,
                                           replicates=args.replicates, seed=args.seed,
                                           min_articles=quantify.MIN_ARTICLES)
            row["errors"][method] = np.abs(est.estimate - truth)
            row["cover"][method] = (est.low <= truth) & (truth <= est.high)
            row["width"][method] = est.high - est.low
            if method == "auto":
                row["used"] = est.methods
                row["cover"]["auto, bootstrap only"] = ((est.sampling_low <= truth) & (truth <= est.sampling_high))
                row["width"]["auto, bootstrap only"] = est.sampling_high - est.sampling_low
        audited = []
        for g in range(n_groups):
            members = groups == g
            if members.sum() <= args.audit:
                continue
            sample = rng.choice(members.sum(), args.audit, replace=False)
            for name, r in audits(proba[members], truth_y[members], k, args.audit, rng, sample):
                row["cover"].setdefault(name, []).extend(r[c].low <= truth[g, c] <= r[c].high for c in range(k))
                row["width"].setdefault(name, []).extend(r[c].high - r[c].low for c in range(k))
                if name == "ppi++":
                    audited.append((g, (proba[members], truth_y[members], sample)))
        if len(audited) >= quantify.POOL_MIN_GROUPS:
            for (g, _), intervals in zip(audited, pooled([a for _, a in audited], k, args.level)):
                row["cover"].setdefault("pooled ppi++", []).extend(low <= truth[g, c] <= high
                                                                   for c, (low, high) in enumerate(intervals))
                row["width"].setdefault("pooled ppi++", []).extend(high - low for low, high in intervals)
        results["leave one outlet out" if label.startswith("leave") else "one source to another"].append(row)
        print(f"  {label:<16} trained on {train_rows.sum():,} ({', '.join(train_outlets)}), "
              f"{n_groups} groups of {target}; evidence: {evidence.protocol}, chose {evidence.chosen} "
              f"(measured MAE {100 * evidence.mae(evidence.chosen):.1f}, cc {100 * evidence.mae('cc'):.1f}); "
              "on the target: " + ", ".join(f"{m} {100 * row['errors'][m].mean():.1f}" for m in ("cc", "auto")),
              flush=True)
    for design, rows in results.items():
        print(f"\n{design}: mean absolute error (points) and {args.level:.0%} coverage over "
              f"{sum(r['errors']['cc'].size for r in rows)} group x class cells")
        cc = np.mean([r["errors"]["cc"].mean() for r in rows])
        for method in [*quantify.QUANTIFIERS, "auto", "auto, bootstrap only"]:
            errors = np.concatenate([r["errors"][method.split(",")[0]].ravel() for r in rows])
            cover = np.concatenate([r["cover"][method].ravel() for r in rows])
            width = np.concatenate([r["width"][method].ravel() for r in rows])
            print(f"  {method:<20} MAE {100 * errors.mean():5.1f}  ({errors.mean() / cc:4.2f} x cc)   "
                  f"coverage {100 * cover.mean():5.1f}%   mean width {100 * width.mean():5.1f}")
        for name in ("ppi++", "pooled ppi++", "active ppi++", "audit alone"):
            cover = np.concatenate([np.asarray(r["cover"].get(name, []), bool) for r in rows])
            width = np.concatenate([np.asarray(r["width"].get(name, []), float) for r in rows])
            if len(cover):
                print(f"  {name:<20} with an audit of {args.audit} per group{' (expected)' if 'active' in name else ''}: "
                      f"coverage {100 * cover.mean():5.1f}%   mean width {100 * width.mean():5.1f}   "
                      f"({len(cover)} cells of groups larger than the audit)")
        used = [m for r in rows for m in r["used"]]
        print("  auto used, per group: " + ", ".join(f"{m} {used.count(m)}" for m in sorted(set(used)))
              + "; over all checks it would choose: " + ", ".join(f"{r['design']}: {r['chosen']}" for r in rows))
    print(f"({time.perf_counter() - started:.0f} s)")


def simulate(name: str, data, args) -> None:
    texts, y, events, sources, article_ids, classes = data
    k = len(classes)
    rng = np.random.default_rng(args.seed)
    unique_events = np.unique(events)
    train_events = rng.choice(unique_events, len(unique_events) // 2, replace=False)
    in_train = np.isin(events, train_events)
    started = time.perf_counter()
    reference, model = train(texts[in_train], y[in_train], events[in_train], args.seed, args.config)
    pool_proba = model.predict_proba(texts[~in_train])
    pool_y = y[~in_train]
    from sklearn.metrics import f1_score
    print(f"\n## {name}: {len(y):,} sentences; trained on {in_train.sum():,}, pool {len(pool_y):,}; "
          f"cross-validated macro-F1 {reference.macro_f1():.3f}, on the pool "
          f"{f1_score(pool_y, pool_proba.argmax(axis=1), average='macro'):.3f}; training class shares "
          f"{np.round(reference.prior(), 3).tolist()} ({', '.join(classes)})")
    by_class = [np.flatnonzero(pool_y == c) for c in range(k)]
    errors = {m: [] for m in quantify.METHODS}
    evidence = quantify.measure(reference, seed=args.seed)
    cover = {"ppi++": [], "pooled ppi++": [], "active ppi++": [], "audit alone": [], "model-only (auto)": [],
             "auto, bootstrap only": []}
    width = {key: [] for key in cover}
    for _ in range(args.repeats):
        mixes = rng.dirichlet(np.ones(k), size=args.outlets)
        rows, groups = [], []
        for g, mix in enumerate(mixes):
            for c, count in enumerate(rng.multinomial(args.per_outlet, mix)):
                rows.append(rng.choice(by_class[c], count, replace=True))
            groups.append(np.full(args.per_outlet, g))
        rows, groups = np.concatenate(rows), np.concatenate(groups)
        order = np.lexsort((rng.random(len(rows)), groups))  # shuffle within outlet, then cut articles
        rows, groups = rows[order], groups[order]
        articles = np.arange(len(rows)) // ARTICLE
        proba, truth_y = pool_proba[rows], pool_y[rows]
        truth = np.stack([np.bincount(truth_y[groups == g], minlength=k) / args.per_outlet
                          for g in range(args.outlets)])
        for method in quantify.METHODS:
            result = quantify.estimate_groups(proba, groups, articles, reference, method,
                                              replicates=args.replicates if method == "auto" else 20,
                                              seed=int(rng.integers(1 << 31)), evidence=evidence,
                                              min_articles=quantify.MIN_ARTICLES)
            errors[method].append(np.abs(result.estimate - truth).mean())
            if method == "auto":
                cover["model-only (auto)"].extend(np.ravel((result.low <= truth) & (truth <= result.high)))
                width["model-only (auto)"].extend(np.ravel(result.high - result.low))
                cover["auto, bootstrap only"].extend(np.ravel((result.sampling_low <= truth)
                                                              & (truth <= result.sampling_high)))
                width["auto, bootstrap only"].extend(np.ravel(result.sampling_high - result.sampling_low))
        audited = []
        for g in range(args.outlets):
            sample = rng.choice(args.per_outlet, args.audit, replace=False)
            for label, r in audits(proba[groups == g], truth_y[groups == g], k, args.audit, rng, sample):
                for c in range(k):
                    cover[label].append(r[c].low <= truth[g, c] <= r[c].high)
                    width[label].append(r[c].high - r[c].low)
                if label == "ppi++":
                    audited.append((proba[groups == g], truth_y[groups == g], sample))
        if len(audited) >= quantify.POOL_MIN_GROUPS:
            for g, intervals in enumerate(pooled(audited, k, args.level)):
                for c, (low, high) in enumerate(intervals):
                    cover["pooled ppi++"].append(low <= truth[g, c] <= high)
                    width["pooled ppi++"].append(high - low)

    cc = np.mean(errors["cc"])
    print(f"Without an audit: mean absolute error of the shares over {args.repeats} x {args.outlets} outlets "
          f"x {k} classes ({args.per_outlet} sentences per outlet)")
    for method in quantify.METHODS:
        mae = np.mean(errors[method])
        print(f"  {method:<5} {100 * mae:5.1f} points   {mae / cc:4.2f} x classify and count")
    print(f"  auto: the checks' choice, {evidence.chosen} overall ({evidence.protocol}), per group"
          " (target: at most classify and count's error)")
    print(f"Intervals ({args.level:.0%}) over {args.repeats * args.outlets * k:,} outlet x class cells:")
    for label in cover:
        note = (f"audit of {args.audit} per outlet" + (" (expected; drawn by the model's uncertainty)"
                                                        if label.startswith("active") else "")
                if label in ("ppi++", "active ppi++", "audit alone") else
                f"audit of {args.audit} per outlet, pooled across the outlets (coverage on average over them)"
                if label == "pooled ppi++"
                else "no audit: bootstrap plus the measured error" if label.startswith("model-only")
                else "no audit: resampling articles only, blind to the model's errors")
        print(f"  {label:<13} coverage {100 * np.mean(cover[label]):5.1f}%   mean width "
              f"{100 * np.mean(width[label]):5.1f} points   ({note})")
    if sources is None:
        return
    print(f"The real outlets of the pool half (true share / classify and count / {quantify.DEFAULT_METHOD}), in %:")
    pool_sources = sources[~in_train]
    outlets = np.unique(pool_sources)
    codes = np.searchsorted(outlets, pool_sources)
    articles = np.unique(article_ids[~in_train], return_inverse=True)[1]
    chosen = quantify.estimate_groups(pool_proba, codes, articles, reference, quantify.DEFAULT_METHOD,
                                      replicates=200)
    counted = quantify.estimate_groups(pool_proba, codes, articles, reference, "cc", replicates=10)
    for g, outlet in enumerate(outlets):
        true = np.bincount(pool_y[codes == g], minlength=k) / (codes == g).sum()
        cells = "  ".join(f"{label} {100 * true[c]:4.1f} / {100 * counted.estimate[g, c]:4.1f} / "
                          f"{100 * chosen.estimate[g, c]:4.1f}" for c, label in enumerate(classes))
        print(f"  {outlet:<4} {cells}")
    print(f"({time.perf_counter() - started:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--outlets", type=int, default=20)
    parser.add_argument("--per-outlet", type=int, default=300)
    parser.add_argument("--audit", type=int, default=40)
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events-per-group", type=int, default=5)
    parser.add_argument("--only", choices=["simulation", "shift"], help="run one part")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the experiment config to train")
    args = parser.parse_args()
    if args.only != "simulation":
        if BASIL.is_file():
            print("\n## BASIL under real shift (outlets)")
            real_shift(basil(), args)
        else:
            print(f"\nBASIL is not at {BASIL}: real shifts skipped")
    if args.only == "shift":
        return
    simulate("news-like (ours, synthetic)", newslike(), args)
    if BASIL.is_file():
        simulate("BASIL (real news)", basil(), args)
    else:
        print(f"\nBASIL is not at {BASIL}: skipped")


if __name__ == "__main__":
    main()
