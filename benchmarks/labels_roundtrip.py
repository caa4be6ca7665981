"""Benchmark `labels push` and `labels pull` against the bare SDK calls, on a real Label Studio.

    python benchmarks/labels_roundtrip.py [--sentences 10000] [--data-dir DIR] [--port 18123]

Starts (or reuses) an embedded server, then in one run prints:
  push of N sentences        vs one bare `projects.import_tasks` of the same payload (target <= 1.5x)
  full pull of N annotated   vs the bare export endpoint                              (target <= 1.0x)
  pull after 100 new annotations vs the full pull                                     (target >= 10x faster)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from newslike import write_jsonl  # noqa: E402

from stance.ingest.corpus import build_corpus  # noqa: E402
from stance.labels.pull import pull  # noqa: E402
from stance.labels.push import build_tasks, push, read_sentences  # noqa: E402
from stance.schema import load_schema  # noqa: E402
from stance.studio import server  # noqa: E402
from stance.studio.client import connect  # noqa: E402
from stance.studio.config import render_label_config  # noqa: E402


def corpus_with(n: int, work: Path) -> Path:
    """A corpus of at least ``n`` sentences."""
    files = write_jsonl(work / "input", megabytes=max(0.2, n * 160 / 1e6), seed=1)
    build_corpus(files, work / "corpus", workers=1)
    return work / "corpus"


def annotate(studio, task_ids: list[int], user_id: int) -> None:
    for task_id in task_ids:
        studio.client.annotations.create(id=task_id, completed_by=user_id, result=[FRAMING_US])


FRAMING_US = {"from_name": "framing", "to_name": "sentence", "type": "choices", "value": {"choices": ["us"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "stance-bench-studio")
    parser.add_argument("--port", type=int, default=18123)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stance-bench-labels-"))
    info = server.start(args.data_dir, args.port, progress=True)
    studio = connect(data_dir=info.data_dir)
    corpus = corpus_with(args.sentences, work)
    sentences = read_sentences(corpus)
    rows = list(range(args.sentences))
    schema = load_schema()
    tag = uuid.uuid4().hex[:6]

    # push: ours (project creation, ledger check, batches) vs one bare import call of the same tasks
    bare_project = studio.client.projects.create(title=f"bare {tag}", label_config=render_label_config(schema))
    tasks = build_tasks(sentences, rows, 2)
    started = time.perf_counter()
    studio.client.projects.import_tasks(id=bare_project.id, request=tasks)
    bare_push = time.perf_counter() - started
    started = time.perf_counter()
    result = push(studio, corpus, f"ours {tag}", n=args.sentences, ledger_dir=work / "ledger")
    our_push = time.perf_counter() - started
    print(f"push {result.created:,} sentences          stance {our_push:6.2f} s   bare import_tasks "
          f"{bare_push:6.2f} s   ratio {our_push / bare_push:5.2f} (target <= 1.5)")

    # a project whose every task carries an annotation (imported pre-annotated: untimed),
    # then a full pull vs the bare export endpoint
    me = studio.client.users.whoami().id
    pull_title = f"pull {tag}"
    pull_project = studio.client.projects.create(title=pull_title, label_config=render_label_config(schema))
    studio.client.projects.import_tasks(id=pull_project.id, request=[
        {"data": task, "annotations": [{"result": [FRAMING_US], "completed_by": me}]} for task in tasks])
    started = time.perf_counter()
    exported = b"".join(studio.client.projects.exports.download_sync(id=pull_project.id, export_type="JSON",
                                                                      download_all_tasks=True))
    bare_export = time.perf_counter() - started
    started = time.perf_counter()
    full = pull(studio, pull_title, work / "labels")
    our_full = time.perf_counter() - started
    print(f"full pull of {len(json.loads(exported)):,} annotated tasks  stance {our_full:6.2f} s   bare export "
          f"{bare_export:6.2f} s   ratio {our_full / bare_export:5.2f} (target <= 1.0)")

    # 100 new annotations, then an incremental pull
    task_ids = sorted(t.id for t in studio.client.tasks.list(project=pull_project.id, fields="task_only",
                                                            include="id", page_size=1000))
    annotate(studio, task_ids[:100], me)
    started = time.perf_counter()
    again = pull(studio, pull_title, work / "labels")
    our_incremental = time.perf_counter() - started
    print(f"pull after 100 new annotations         stance {our_incremental:6.2f} s ({again.mode}, "
          f"{again.tasks_read} tasks read)   full pull {our_full:6.2f} s   "
          f"speed-up {our_full / our_incremental:5.1f}x (target >= 10)")
    print(f"full pull read {full.tasks_read:,} tasks; outputs under {work}")


if __name__ == "__main__":
    main()
