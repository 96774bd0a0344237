"""The collector's outbox: every event from a strap, in a local SQLite file (0600), until the cluster acked it.

Each event gets the next sequence number of its device (kept in the same file, so a restart continues
the numbering) and is committed before anything is sent: a broker outage of hours, or a collector killed
with ``kill -9``, loses nothing, and what was acknowledged is deleted, so a restart resends only the rest.
The message id (``Nats-Msg-Id``) is ``<device>:<outbox epoch>:<seq>``: a resend is a duplicate, not a second beat.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cluster.subjects import EventKind, check_user

OUTBOX_NAME = "outbox.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, user TEXT NOT NULL, device TEXT NOT NULL, seq INTEGER NOT NULL,
    kind TEXT NOT NULL, t REAL NOT NULL, data BLOB NOT NULL, UNIQUE (device, seq)
);
CREATE TABLE IF NOT EXISTS device_seq (device TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_id (epoch TEXT NOT NULL);
"""
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: int
    user: str
    device: str
    seq: int
    kind: EventKind
    t: float
    data: bytes
    epoch: str

    @property
    def msg_id(self) -> str:
        return f"{self.device}:{self.epoch}:{self.seq}"


class Outbox:
    """One collector's outbox file. Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        row = self.conn.execute("SELECT epoch FROM outbox_id").fetchone()
        if row is None:
            row = (secrets.token_hex(4),)
            self.conn.execute("INSERT INTO outbox_id (epoch) VALUES (?)", row)
        self.epoch: str = row[0]
        """Random id of this outbox file: sequence numbers restart only with a new file, and a new epoch."""

    @classmethod
    def in_dir(cls, directory: str | os.PathLike[str]) -> Outbox:
        return cls(Path(directory) / OUTBOX_NAME)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def add(self, user: str, device: str, kind: EventKind, t: float, data: bytes = b"") -> int:
        """Store one event durably (committed on return); returns its device sequence number."""
        check_user(user)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT last FROM device_seq WHERE device = ?", (device,)).fetchone()
            seq = (row[0] if row else 0) + 1
            self.conn.execute("INSERT OR REPLACE INTO device_seq (device, last) VALUES (?, ?)", (device, seq))
            self.conn.execute(
                "INSERT INTO outbox (user, device, seq, kind, t, data) VALUES (?,?,?,?,?,?)",
                (user, device, seq, str(kind), t, data),
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return seq

    def pending(self, limit: int = 256) -> list[OutboxEvent]:
        """The oldest events not yet acknowledged, in the order they were added."""
        rows = self.conn.execute(
            "SELECT id, user, device, seq, kind, t, data FROM outbox ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [
            OutboxEvent(r[0], r[1], r[2], r[3], EventKind(r[4]), r[5], bytes(r[6]), self.epoch) for r in rows
        ]

    def acked(self, ids: Iterable[int]) -> None:
        """Forget events the cluster acknowledged (one transaction)."""
        self.conn.execute("BEGIN")
        self.conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        self.conn.execute("COMMIT")

    def count(self, device: str | None = None) -> int:
        """Events not yet acknowledged (of ``device``, or all)."""
        if device is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        return int(self.conn.execute("SELECT COUNT(*) FROM outbox WHERE device = ?", (device,)).fetchone()[0])
