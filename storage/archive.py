"""The SQLite archive: the system of record (WAL mode, file mode 0600).

Every row carries ``seq``, a number from one archive-wide sequence that grows on every insert and update,
so a downstream writer (InfluxDB) can drain each table from a watermark and never miss an update.
The schema version is ``PRAGMA user_version``; migrations run in order inside one transaction.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processing.arousal import BaselineStats
from storage.controls import ControlsTable
from storage.errors import SchemaTooNew
from storage.event_rows import BY_STRAP, QUEUED_FLAGS, EventRows
from storage.journals import JOURNAL_TABLES
from storage.row_batches import write_rows
from storage.schema import MIGRATIONS, SCHEMA_VERSION, SEQ_TABLES, WINDOW_FEATURES

log = logging.getLogger("calmstrap.archive")

ARCHIVE_NAME = "archive.db"
BUSY_TIMEOUT_S = 5.0
"""SQLite's own wait for another process's write lock before :meth:`Archive._retry_busy` retries."""
CACHE_MIB = 8
"""SQLite page cache of a connection that is not a running service's (import, export, sync): SQLite's own
default is 2 MiB. A ceiling: pages are held only once read."""
SERVICE_CACHE_MIB = 128
"""The page cache of ``run``'s, ``demo``'s and ``archive``'s connection. Every strap appends to its
own place in the indexes keyed by user, so a busy archive keeps one leaf page per strap and index hot; with
SQLite's default 2 MiB the beats inserts of 400 straps took 1.75x as long (BENCHMARKS.md, "One-process
capacity", the h-cap rerun)."""
WAL_AUTOCHECKPOINT_PAGES = 16384
"""WAL size (pages of 4 KiB: 64 MiB) past which a commit copies the WAL into the database (SQLite's default
1000). A grouped commit rewrites the hot index pages into the WAL; a larger WAL copies each of them back
once per checkpoint instead of every few commits. A kill -9 loses no committed write either way (the WAL is in the OS
page cache). With ``synchronous=NORMAL`` the WAL is fsynced only at a checkpoint, so a power cut can lose
the commits since the last one: ``run`` also checkpoints on a clock (:meth:`Archive.checkpoint_wal`,
``calmstrap.commit_group.WAL_CHECKPOINT_EVERY_S``) and that bound no longer depends on how much is written."""
__all__ = [
    "ARCHIVE_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SEQ_TABLES",
    "WINDOW_FEATURES",
    "Archive",
    "TableCounts",
]


def _create_private(path: Path) -> None:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


@dataclass(frozen=True, slots=True)
class TableCounts:
    beats: int
    gaps: int
    windows: int
    arousal: int
    episodes: int
    prompts: int


_DEVICES_SQL = (
    "WITH RECURSIVE d(device) AS (SELECT (SELECT MIN(device) FROM beats WHERE user = ?1) UNION ALL"
    " SELECT (SELECT MIN(device) FROM beats WHERE user = ?1 AND device > d.device) FROM d"
    " WHERE d.device IS NOT NULL) SELECT device FROM d WHERE device IS NOT NULL"
)
"""A user's devices by skipping from one to the next on the (user, device, t) key (a loose index scan)."""
_SPAN_SQL = (
    "SELECT (SELECT MIN(t) FROM beats WHERE user = ?1 AND device = ?2),"
    " (SELECT MAX(t) FROM beats WHERE user = ?1 AND device = ?2)"
)
"""One device's first and last beat: two seeks (one query with both aggregates reads every beat: 179 ms against
0.19 ms on a million beats, 2026-12-02)."""


class Archive(EventRows, ControlsTable):
    """One SQLite archive file. Use as a context manager; writes are committed by :meth:`commit`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        cache_mib: int = CACHE_MIB,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            _create_private(self.path)
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
        )
        self._pending: dict[str, list[tuple[Any, ...]]] = {}
        """Rows of the frequent inserts (beats, windows, arousal) not yet handed to SQLite: written with
        one ``executemany`` per statement before the connection is used for anything else (see
        :attr:`conn`) and before every commit, so they are exactly as durable as rows inserted one by one
        into the open transaction (committed with it, lost with it)."""
        self._in_tx = False
        self.journal_rows = False
        self._recent = False
        self._closed = False
        self._seq = 0
        self._seq_at_begin = 0
        self._busy_waits = 0
        self._retry_busy(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(f"PRAGMA cache_size = -{int(cache_mib) * 1024}")
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self._recent = (
            self.conn.execute(
                "SELECT " + " OR ".join(f"EXISTS (SELECT 1 FROM {t})" for t in JOURNAL_TABLES)
            ).fetchone()[0]
            == 1
        )
        self._fold_for_read()  # what a crash (or a running service) left in the journals

    @property
    def conn(self) -> sqlite3.Connection:
        """The SQLite connection, with every queued row written first (reads see them, as before)."""
        if self._pending:
            self._write_pending()
        return self._db

    def _write_pending(self) -> None:
        pending, self._pending = self._pending, {}
        flags = pending.pop(QUEUED_FLAGS, None)
        for sql, rows in pending.items():
            by_strap = BY_STRAP.get(sql)
            if by_strap is not None and len(rows) > 1:
                rows.sort(key=by_strap)  # stable: each strap's rows keep their order
            write_rows(self._db, sql, rows)  # executemany, in multi-row statements
        if flags:  # after the inserts: a flag may name a beat queued in this batch
            self._flag(self._db, flags)

    def _queue(self, sql: str, row: tuple[Any, ...]) -> None:
        rows = self._pending.get(sql)
        if rows is None:
            self._pending[sql] = [row]
        else:
            rows.append(row)

    @classmethod
    def in_dir(cls, data_dir: str | os.PathLike[str], *, cache_mib: int = CACHE_MIB) -> Archive:
        return cls(Path(data_dir) / ARCHIVE_NAME, cache_mib=cache_mib)

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        if self._recent:
            self.fold_journal()
        self.commit()
        # a short busy wait: a checkpoint waiting for another process's readers would hold its writers up
        self.conn.execute("PRAGMA busy_timeout = 50")
        with contextlib.suppress(sqlite3.OperationalError):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        self._closed = True

    @property
    def busy_waits(self) -> int:
        """How often this connection found the archive locked by another process's write and waited."""
        return self._busy_waits

    def _retry_busy(self, op: Callable[[], object]) -> None:
        """Run ``op`` (a statement that takes the write lock); while another process writes, wait and retry.

        SQLite's busy timeout waits first; past it the lock is retried with a growing random delay, for as
        long as it takes: a service never stops because an ``import`` or ``sync`` is writing beside it.
        """
        delay_s = 0.02
        warned_t: float | None = None
        while True:
            try:
                op()
                return
            except sqlite3.OperationalError as exc:
                msg = str(exc)
                if "locked" not in msg and "busy" not in msg:
                    raise
            self._busy_waits += 1
            now = time.monotonic()
            if warned_t is None or now - warned_t > 60.0:
                warned_t = now
                log.warning("archive %s is busy (another process is writing); waiting for it", self.path)
            time.sleep(delay_s * random.uniform(0.5, 1.0))
            delay_s = min(1.0, delay_s * 2)

    def _migrate(self) -> None:
        while True:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(str(self.path), version, SCHEMA_VERSION)
            if version == SCHEMA_VERSION:
                return
            self._retry_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            # another process may have migrated while this one waited for the lock: read again inside
            if self.conn.execute("PRAGMA user_version").fetchone()[0] != version:
                self.conn.execute("ROLLBACK")
                continue
            try:
                for stmt in MIGRATIONS[version].split(";"):
                    if stmt.strip():
                        self.conn.execute(stmt)
                self.conn.execute(f"PRAGMA user_version = {version + 1}")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _next_seq(self) -> int:
        """The next number of the archive-wide sequence (inside the open write transaction)."""
        if not self._in_tx:
            self._begin()
        self._seq += 1
        return self._seq

    def _begin(self) -> None:
        """Open a write transaction: the write lock first (BEGIN IMMEDIATE), then ``seq`` from the database.

        Holding the lock from the start means the ``seq`` read here cannot be taken by another process
        before :meth:`commit` stores the new value: no two rows ever share a ``seq``, whatever else writes.
        """
        if not self._in_tx:
            self._retry_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            self._in_tx = True
            self._seq = self._seq_at_begin = int(
                self.conn.execute("SELECT seq FROM seq_counter WHERE id = 0").fetchone()[0]
            )

    @property
    def in_transaction(self) -> bool:
        return self._in_tx

    @property
    def last_seq(self) -> int:
        """The last ``seq`` this connection handed out (inside the open transaction, or the last one)."""
        return self._seq

    def commit(self) -> None:
        if self._in_tx:
            if self._pending:
                self._write_pending()
            if self._seq != self._seq_at_begin:
                self.conn.execute("UPDATE seq_counter SET seq = ? WHERE id = 0", (self._seq,))
            self.conn.execute("COMMIT")
            self._in_tx = False

    def checkpoint_wal(self) -> None:
        """Copy the WAL into the database now (PASSIVE: never waits for readers); outside a transaction."""
        if not self._in_tx:
            with contextlib.suppress(sqlite3.OperationalError):
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def rollback(self) -> None:
        if self._in_tx:
            self._pending.clear()
            self._db.execute("ROLLBACK")
            self._in_tx = False
            self._seq = self._seq_at_begin

    @contextmanager
    def transaction(self) -> Iterator[Archive]:
        """All writes inside commit together or not at all."""
        self.commit()
        self._begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    @contextlib.contextmanager
    def atomic(self, name: str = "atomic") -> Iterator[Archive]:
        """All writes inside take effect together or not at all (an SQLite savepoint ``name``).

        Joins the open transaction when there is one: the writes are durable with its commit, like every
        other write (with grouped commits, the group's next one), and a failure inside undoes only them.
        Otherwise it is a transaction of its own, committed at the end.
        """
        joined = self._in_tx
        self._begin()
        db = self.conn  # the rows queued so far are written first: a failure here must not undo them
        db.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            db.execute(f"ROLLBACK TO {name}")
            db.execute(f"RELEASE {name}")
            if not joined:
                self.rollback()
            raise
        db.execute(f"RELEASE {name}")
        if not joined:
            self.commit()

    def set_watermark(self, sink: str, table: str, seq: int) -> None:
        """Move a downstream sink's watermark of ``table`` up to ``seq`` (never down).

        Joins the open transaction when there is one (committed with it: a crash before that only means a
        replay, which overwrites); otherwise commits at once (never holds the write lock).
        """
        joined = self._in_tx
        self._begin()
        self.conn.execute(
            "INSERT INTO sync_watermark (sink, tbl, seq) VALUES (?, ?, ?)"
            " ON CONFLICT (sink, tbl) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > seq",
            (sink, table, seq),
        )
        if not joined:
            self.commit()

    def execute_write(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``executemany`` a write that carries no ``seq`` (bookkeeping tables): joins the open transaction,
        else commits at once."""
        joined = self._in_tx
        self._begin()
        self.conn.executemany(sql, rows)
        if not joined:
            self.commit()

    def reset_watermarks(self, sink: str) -> None:
        """Forget every watermark of ``sink`` (its next drain sends the whole archive)."""
        joined = self._in_tx
        self._begin()
        self.conn.execute("DELETE FROM sync_watermark WHERE sink = ?", (sink,))
        if not joined:
            self.commit()

    def load_checkpoint(self, user: str, device: str) -> tuple[float, bytes] | None:
        """The last saved state snapshot of a strap session: (stream time it covers, bytes), or None."""
        row = self.conn.execute(
            "SELECT t, state FROM checkpoint WHERE user = ? AND device = ?", (user, device)
        ).fetchone()
        return None if row is None else (float(row[0]), bytes(row[1]))

    def applied_seq(self, stream: str) -> int:
        """The last message sequence of ``stream`` applied to this archive (``calmstrap archive``; 0: none)."""
        row = self.conn.execute("SELECT seq FROM stream_applied WHERE stream = ?", (stream,)).fetchone()
        return 0 if row is None else int(row[0])

    def set_applied_seq(self, stream: str, seq: int) -> None:
        """Record, in the current transaction, that ``stream`` is applied up to ``seq`` (exactly once)."""
        self._begin()
        self.conn.execute("INSERT OR REPLACE INTO stream_applied (stream, seq) VALUES (?, ?)", (stream, seq))

    def delete_user(self, user: str) -> None:
        """Remove every row of one user (the demo replaces its previous run)."""
        self._begin()
        for table in (*SEQ_TABLES, "checkpoint", *JOURNAL_TABLES):
            self.conn.execute(f"DELETE FROM {table} WHERE user = ?", (user,))

    # -- reads -----------------------------------------------------------------------------------------
    def load_baseline(self, user: str, bin_name: str = "all") -> BaselineStats | None:
        row = self.conn.execute(
            "SELECT hr_bpm, hr_sd, ln_rmssd, ln_rmssd_sd, n_windows, source FROM baseline"
            " WHERE user = ? AND bin = ? ORDER BY seq DESC LIMIT 1",
            (user, bin_name),
        ).fetchone()
        if row is None:
            return None
        return BaselineStats(row[0], row[1], row[2], row[3], int(row[4]), source=row[5])

    def count(self, table: str, user: str | None = None) -> int:
        if table not in SEQ_TABLES:
            raise ValueError(f"unknown table {table!r}")
        self._fold_for_read()
        if user is None:
            return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE user = ?", (user,)).fetchone()[0])

    def counts(self) -> TableCounts:
        return TableCounts(
            *(self.count(t) for t in ("beats", "gaps", "windows", "arousal", "episodes", "prompts"))
        )

    def users(self) -> list[str]:
        self._fold_for_read()
        return [r[0] for r in self.conn.execute("SELECT DISTINCT user FROM beats ORDER BY user")]

    def devices(self, user: str, *, fold: bool = True) -> list[str]:
        """The devices ``user`` has beats from, in order: one seek per device on the beats' (user, device, t)
        key, however many beats each has (the archive keeps no index on the beats by user and time alone).
        ``fold`` False: the beats folded so far only (see :meth:`query`)."""
        if fold:
            self._fold_for_read()
        return [r[0] for r in self.conn.execute(_DEVICES_SQL, (user,))]

    def beat_span(self, user: str) -> tuple[float | None, float | None]:
        """The first and last beat times of ``user`` over all their devices ((None, None): no beats)."""
        spans = [self.conn.execute(_SPAN_SQL, (user, d)).fetchone() for d in self.devices(user)]
        if not spans:
            return None, None
        return min(s[0] for s in spans), max(s[1] for s in spans)

    def query(self, sql: str, params: Sequence[Any] = (), *, fold: bool = True) -> list[tuple[Any, ...]]:
        """Read-only helper for exports and tests (the journals folded first).

        ``fold`` False reads the tables as they are, without the rows still in this connection's journals:
        for a reader that follows ``seq`` (those rows get theirs at the fold, above every ``seq`` handed out
        before it, so the reader takes them in on its next pass), and that must not fold the running
        service's journals on every read (the weekly progress, refreshed as each episode ends)."""
        if fold:
            self._fold_for_read()
        return list(self.conn.execute(sql, params))

    def iter_query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Like :meth:`query` but row by row, for reads too large to hold as a list (exports)."""
        self._fold_for_read()
        return iter(self.conn.execute(sql, params))

    def integrity_ok(self) -> bool:
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
