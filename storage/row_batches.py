"""The archive's queued rows written as multi-row INSERTs: the rows, ``id``s and errors of one-row inserts.

``executemany`` runs its statement once per row; SQLite then opens and closes every cursor of the table and
its indexes for each row. One ``INSERT ... VALUES (...), (...), ...`` of ``k`` rows runs once: SQLite still
inserts the rows one by one in order (each ``id`` is the one the row would have got alone; ``OR IGNORE``
skips a row that conflicts with any row before it, in the same statement or not). An ``INSERT`` that would
abort on a constraint (the default) is written ``OR FAIL``: it keeps the rows before the failing one and
stops there, as ``executemany`` of one-row inserts does; the same ``sqlite3.IntegrityError`` is raised.

Measured (callgrind; BENCHMARKS.md, "The rest of a notification"): 20,000 beat rows of 100 straps into an
archive's ``beats``, 30.8-31.3 k instructions per row with ``executemany``, 23.0-23.1 k in chunks of 50 or
200 rows.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

CHUNKS: tuple[int, ...] = (64, 16, 4)
"""Rows per multi-row statement, largest first; what is left (fewer than the smallest) goes one by one."""

_ONE_ROW = re.compile(
    r"\A(INSERT(?: OR (?:IGNORE|REPLACE|ABORT|FAIL))? INTO [^()]+\([^()]*\)) VALUES (\(\?(?:, ?\?)*\))\Z"
)


@functools.cache
def multi_row_sql(sql: str, k: int) -> str | None:
    """``sql`` (a one-row ``INSERT ... VALUES (?, ...)``) for ``k`` rows, or None for any other statement."""
    m = _ONE_ROW.match(sql)
    if m is None:
        return None
    head, values = m.groups()
    if head.startswith("INSERT INTO "):
        head = "INSERT OR FAIL INTO " + head[len("INSERT INTO ") :]
    elif head.startswith("INSERT OR ABORT INTO "):
        head = "INSERT OR FAIL INTO " + head[len("INSERT OR ABORT INTO ") :]
    return f"{head} VALUES {','.join([values] * k)}"


def write_rows(db: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``db.executemany(sql, rows)``, in multi-row statements of :data:`CHUNKS` rows where ``sql`` allows."""
    n, i = len(rows), 0
    for k in CHUNKS:
        m = (n - i) // k
        if m == 0:
            continue
        multi = multi_row_sql(sql, k)
        if multi is None:
            break
        end = i + m * k
        db.executemany(multi, [tuple(chain.from_iterable(rows[j : j + k])) for j in range(i, end, k)])
        i = end
    if i < n:
        db.executemany(sql, rows[i:] if i else rows)
