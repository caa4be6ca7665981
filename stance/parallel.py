"""Ordered, bounded parallel map over worker processes.

``Pool.imap`` reads its whole input ahead of the workers, so memory grows with the
input; this keeps at most ``window`` items in flight and yields results in input
order, which is what streaming writers need.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _import_lazy_modules() -> None:
    """pyarrow imports pandas on its first conversion (about 0.2 s of CPU); doing it once
    here, before forking, saves every worker that import."""
    import pyarrow as pa

    pa.array([], pa.string())


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int,
                window: int | None = None) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` processes (inline when 1), in order, bounded memory.

    Workers are forked where the platform can (no re-import, and scripts fed on
    stdin or notebooks work); ``fn`` must not rely on locks held by other threads.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    window = window or 2 * workers
    fork = "fork" in multiprocessing.get_all_start_methods()
    if fork:
        _import_lazy_modules()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
