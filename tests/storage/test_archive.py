"""The SQLite archive: private, versioned, transactional."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from sensors.beats import Beat
from storage.archive import SCHEMA_VERSION, Archive
from storage.errors import SchemaTooNew


def _beats(n: int, t0: float = 1_700_000_000.0) -> list[Beat]:
    return [Beat(t=t0 + i * 0.9, rr_ms=900.0, device="d", user="u") for i in range(n)]


def test_new_archive_is_private_and_wal(tmp_path: Path) -> None:
    """A new archive file is mode 0600, in WAL mode, at the current schema version."""
    with Archive.in_dir(tmp_path / "data") as ar:
        assert ar.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ar.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert stat.S_IMODE((tmp_path / "data" / "archive.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_duplicate_beats_are_ignored(tmp_path: Path) -> None:
    """The same beat (user, device, time) written twice is stored once."""
    with Archive.in_dir(tmp_path) as ar:
        ar.add_beats(_beats(10))
        ar.add_beats(_beats(10))
        ar.commit()
        assert ar.count("beats") == 10


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    """An error inside transaction() rolls back every write in it."""
    with Archive.in_dir(tmp_path) as ar:
        with pytest.raises(RuntimeError), ar.transaction():
            ar.add_beats(_beats(5))
            raise RuntimeError("bad line")
        assert ar.count("beats") == 0


def test_seq_grows_across_tables(tmp_path: Path) -> None:
    """Every write takes the next archive-wide sequence number, also after reopening."""
    with Archive.in_dir(tmp_path) as ar:
        ar.add_beats(_beats(3))
        ar.commit()
    with Archive.in_dir(tmp_path) as ar:
        ar.add_beats(_beats(2, t0=1_800_000_000.0))
        ar.commit()
        seqs = [r[0] for r in ar.query("SELECT seq FROM beats ORDER BY id")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """An archive from a newer calmstrap is refused with both versions named."""
    Archive.in_dir(tmp_path).close()
    con = sqlite3.connect(tmp_path / "archive.db")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(SchemaTooNew, match=str(SCHEMA_VERSION + 1)):
        Archive.in_dir(tmp_path)
