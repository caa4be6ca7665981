"""``report.html`` of a run: scores per dimension, confusion matrices and per-class bars."""

from __future__ import annotations

from pathlib import Path

from stance.plots import confusion_figure, grouped_bars, img
from stance.webpage import esc, page, table


def write_run_report(path: Path, run_id: str, config: dict, metrics: dict) -> None:
    parts = [f"<h1>Run {esc(run_id)}</h1>",
             f"<p>config <b>{esc(config['name'])}</b>: "
             f"{esc(config.get('description', ''))}</p>"]
    rows = []
    for dim, m in metrics["dimensions"].items():
        cv = m["cv"]
        test = m.get("test")
        rows.append([dim, cv["macro_f1"], cv["accuracy"], cv["n"], cv["folds"],
                     ", ".join(f"{k} {v}" for k, v in cv["skipped"].items()) or "none",
                     test["macro_f1"] if test else "", test["n"] if test else ""])
    parts.append(table(["dimension", "CV macro-F1", "CV accuracy", "labelled", "folds", "skipped",
                        "test macro-F1", "test n"], rows))
    parts.append('<p class="muted">Cross-validation is grouped by article and stratified; '
                 "skipped rows are ties and unlabelled sentences.</p>")
    for dim, m in metrics["dimensions"].items():
        parts.append(f"<h2>{esc(dim)}</h2>")
        for split in ("cv", "test"):
            if split not in m:
                continue
            s = m[split]
            names = list(s["per_class"])
            title = "cross-validated" if split == "cv" else "held-out test"
            parts.append(img(confusion_figure(s["confusion"]["matrix"], names, f"{dim}: {title}"),
                             f"confusion matrix of {dim}, {title}"))
            series = {metric: [s["per_class"][c][metric] for c in names] for metric in ("precision", "recall", "f1")}
            parts.append(img(grouped_bars(names, series, f"{dim}: per class, {title}", "score"),
                             f"per-class precision, recall and F1 of {dim}, {title}"))
        if "int8" in m:
            i = m["int8"]
            parts.append(f"<p>int8 ONNX labels agree with torch's on {i['agreement']:.1%} of held-out sentences, "
                         f"{i['agreement_rechecked']:.1%} once near-ties ({i['rechecked']:.1%}) are predicted again "
                         "in float32, as scoring does; the scores above are of those labels.</p>")
        if "search" in m:
            parts.append(f"<p>parameters chosen by the search: <code>{esc(str(m['search']['final']))}"
                         "</code></p>")
    path.write_text(page(f"stance run {run_id}", "\n".join(parts)), encoding="utf-8")
