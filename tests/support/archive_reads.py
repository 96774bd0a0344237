"""What a piece of code reads from an archive: rows got back through ``Archive.query`` and SQLite VM steps
(for tests that bound a refresh's reads and for benchmarks/progress_refresh.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from storage.archive import Archive


@dataclass(frozen=True, slots=True)
class Reads:
    rows: int
    """Rows ``Archive.query`` returned."""
    kilo_steps: int
    """Thousands of SQLite virtual-machine steps (a progress handler every 1,000)."""
    seconds: float
    """Wall time of the call."""


def count_reads(archive: Archive, fn: Callable[[], object]) -> Reads:
    """Run ``fn`` with the archive's reads counted."""
    rows = steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    query = archive.query

    def counting(sql: str, params: object = (), *, fold: bool = True) -> list[tuple[object, ...]]:
        nonlocal rows
        out = query(sql, params, fold=fold)  # type: ignore[arg-type]
        rows += len(out)
        return out

    archive.query = counting  # type: ignore[method-assign]
    archive.conn.set_progress_handler(tick, 1000)
    t0 = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - t0
        archive.conn.set_progress_handler(None, 0)
        del archive.query
    return Reads(rows, steps, seconds)
