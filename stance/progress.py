"""Progress bars for long work, shown on stderr and only when asked (the CLI asks)."""

from __future__ import annotations

import time
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr = Console(stderr=True, soft_wrap=True)  # messages stay one line when piped
_shown: list[Progress] = []  # rich shows one live display at a time: inner bars join the outer one
#: Seconds between plain progress lines where stderr is not a terminal (a log, a pipe, CI).
LINE_EVERY = 10.0


class _Quiet:
    """Stands in for a progress bar when none is wanted, so callers need no branches."""

    def update(self, **fields) -> None:
        pass

    def advance(self, amount: float = 1) -> None:
        pass


class _Bar:
    def __init__(self, progress: Progress, task_id) -> None:
        self._progress, self._task = progress, task_id

    def update(self, **fields) -> None:
        self._progress.update(self._task, **fields)

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task, amount)


class _Lines:
    """Progress as plain lines, for a stderr that is no terminal: a live bar would print nothing
    there until the end. A line at most every ``LINE_EVERY`` seconds, and one when done."""

    def __init__(self, description: str, total: float | None, unit: str, status: str, fields: dict) -> None:
        self.description, self.total, self.unit, self.status, self.fields = description, total, unit, status, fields
        self.done = 0.0
        self.started = self.last = time.monotonic()

    def update(self, **fields) -> None:
        self.fields.update(fields)
        self._maybe_print()

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        self._maybe_print()

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if now - self.last >= LINE_EVERY:
            self.last = now
            self.print()

    def print(self, final: bool = False) -> None:
        size = (lambda n: f"{n / 1e6:,.1f} MB") if self.unit == "bytes" else (lambda n: f"{n:,.0f}")
        amount = size(self.done) + (f" of {size(self.total)} ({self.done / self.total:.0%})"
                                    if self.total else "")
        if not self.total and not self.done:  # a step of unknown length that counts nothing
            amount = "" if final else "working"
        status = f"; {self.status.format(**self.fields)}" if self.status else ""
        said = ", ".join(part for part in ("done" if final else "", amount) if part)
        stderr.print(f"{self.description}: {said}{status}, "
                     f"{time.monotonic() - self.started:,.0f} s", highlight=False, markup=False)


@contextmanager
def progress_bar(description: str, total: float | None, *, enabled: bool, unit: str = "items",
                 status: str = "", **fields):
    """A bar with a live status line; ``unit='bytes'`` shows sizes, anything else counts.

    ``status`` is a format string over ``fields`` (for example ``"{articles:,} articles"``),
    shown beside the bar; ``update(articles=...)`` changes them.
    """
    if not enabled:
        yield _Quiet()
        return
    if not stderr.is_terminal:
        lines = _Lines(description, total, unit, status, dict(fields))
        yield lines
        lines.print(final=True)
        return
    if _shown:
        outer = _shown[-1]
        task_id = outer.add_task(description, total=total, **fields)
        try:
            yield _Bar(outer, task_id)
        finally:
            outer.remove_task(task_id)
        return
    amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), amount,
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    if status:
        columns.append(TextColumn(_status_column(status)))
    with Progress(*columns, console=stderr, transient=False) as progress:
        task_id = progress.add_task(description, total=total, **fields)
        _shown.append(progress)
        try:
            yield _Bar(progress, task_id)
        finally:
            _shown.pop()


def _status_column(status: str) -> str:
    """Turn ``"{a:,} x {b:,} y"`` into rich's ``"{task.fields[a]:,} x {task.fields[b]:,} y"``."""
    out, i = [], 0
    while (open_at := status.find("{", i)) >= 0:
        close_at = status.index("}", open_at)
        name, _, spec = status[open_at + 1:close_at].partition(":")
        out.append(status[i:open_at] + "{task.fields[" + name + "]" + (":" + spec if spec else "") + "}")
        i = close_at + 1
    out.append(status[i:])
    return "".join(out)
