"""The import journal: one logical transaction for an import written in many short ones.

``calmstrap import`` writes a large file in chunks, each its own short write transaction, so the running
service never waits long for the archive. To keep the import all or nothing anyway, every chunk records, in
its own transaction, the range of ``seq`` it used (``import_chunks``): every row an import wrote (or last
updated) has its ``seq`` in one of its ranges, since no other writer can take a number from the sequence
inside another's transaction. Then:

* a failed import (a bad line found late, an error in processing, Ctrl-C) deletes exactly those rows
  (:func:`discard_import`) before it exits;
* an import that did not get to do so (``kill -9``, a power cut) is left ``running`` with a dead pid; the next
  ``import``, ``run``, ``demo`` or ``sync`` removes it (:func:`recover_interrupted_imports`);
* an import is visible downstream only once finished: the InfluxDB writer does not pass the first ``seq`` of
  an unfinished import (:func:`unfinished_import_floor`), so InfluxDB never gets rows that may still vanish
  (the rows written beside it wait in the archive until then).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from storage.archive import Archive
from storage.schema import SEQ_TABLES

RUNNING = "running"
DONE = "done"


@dataclass(frozen=True, slots=True)
class DiscardedImport:
    import_id: int
    path: str
    user: str
    rows_removed: int


def begin_import(archive: Archive, user: str, device: str, path: str) -> int:
    """A journal entry for a new import (committed at once); returns its id."""
    with archive.transaction():
        cur = archive.conn.execute(
            "INSERT INTO imports (user, device, path, pid, started_t, state) VALUES (?,?,?,?,?,?)",
            (user, device, path, os.getpid(), time.time(), RUNNING),
        )
    return int(cur.lastrowid or 0)


def record_chunk(archive: Archive, import_id: int, seq_before: int) -> None:
    """Inside the chunk's open transaction: the seqs after ``seq_before`` up to now are the import's."""
    if archive.last_seq > seq_before:
        archive.conn.execute(
            "INSERT INTO import_chunks (import_id, first_seq, last_seq) VALUES (?,?,?)",
            (import_id, seq_before + 1, archive.last_seq),
        )


def finish_import(archive: Archive, import_id: int) -> None:
    """Inside the last chunk's transaction: the import is complete (its chunk ranges are no longer needed)."""
    archive.conn.execute("UPDATE imports SET state = ? WHERE id = ?", (DONE, import_id))
    archive.conn.execute("DELETE FROM import_chunks WHERE import_id = ?", (import_id,))


def discard_import(archive: Archive, import_id: int) -> int:
    """Delete every row the import wrote, chunk by chunk (short transactions), then its journal entry."""
    archive.rollback()
    ranges = archive.query(
        "SELECT first_seq, last_seq FROM import_chunks WHERE import_id = ? ORDER BY first_seq DESC",
        (import_id,),
    )
    removed = 0
    for first, last in ranges:
        with archive.transaction():
            for table in SEQ_TABLES:
                cur = archive.conn.execute(f"DELETE FROM {table} WHERE seq BETWEEN ? AND ?", (first, last))
                removed += cur.rowcount
            archive.conn.execute(
                "DELETE FROM import_chunks WHERE import_id = ? AND first_seq = ?", (import_id, first)
            )
    with archive.transaction():
        archive.conn.execute("DELETE FROM imports WHERE id = ?", (import_id,))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted_imports(archive: Archive) -> list[DiscardedImport]:
    """Remove the rows of every import left unfinished by a process that no longer runs."""
    out: list[DiscardedImport] = []
    rows = archive.query("SELECT id, pid, path, user FROM imports WHERE state = ?", (RUNNING,))
    for import_id, pid, path, user in rows:
        if int(pid) == os.getpid() or _alive(int(pid)):
            continue  # in progress (this process's own, or another's)
        out.append(DiscardedImport(int(import_id), str(path), str(user), discard_import(archive, import_id)))
    return out


def unfinished_import_floor(archive: Archive) -> int | None:
    """The lowest ``seq`` an unfinished import wrote (downstream sinks stop below it), or None."""
    row = archive.query(
        "SELECT MIN(c.first_seq) FROM import_chunks c JOIN imports i ON i.id = c.import_id WHERE i.state = ?",
        (RUNNING,),
    )
    return None if not row or row[0][0] is None else int(row[0][0])
