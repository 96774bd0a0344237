"""The SQLite archive: private, versioned, transactional."""

from __future__ import annotations

import math
import sqlite3
import stat
from pathlib import Path

import pytest

from processing.progress import WeekProgress
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


def _week(user: str, week: str, amplitude: float) -> WeekProgress:
    return WeekProgress(
        user, week, 1_700_438_400.0, 2.0, 1, 0.5, amplitude, 70.0, 240.0, 3.9, 3.7, 4.1, 62.0, 1, 1, 1.0
    )


def test_replace_weekly_progress_upserts_by_week_with_new_seq(tmp_path: Path) -> None:
    """A week stored again replaces its row with a newer seq; NaN is stored as NULL."""
    with Archive.in_dir(tmp_path) as ar:
        assert ar.replace_weekly_progress("u", [_week("u", "2023-W47", 40.0)]) == 1
        (seq1,) = ar.query("SELECT seq FROM weekly_progress")[0]
        ar.replace_weekly_progress("u", [_week("u", "2023-W47", math.nan)])
        rows = ar.query("SELECT week, seq, median_amplitude, resting_hr_bpm FROM weekly_progress")
    assert len(rows) == 1
    assert rows[0][1] > seq1
    assert rows[0][2] is None
    assert rows[0][3] == 62.0


def test_replace_weekly_progress_refuses_another_users_rows(tmp_path: Path) -> None:
    """Rows of another user raise ValueError and nothing is written."""
    with Archive.in_dir(tmp_path) as ar:
        with pytest.raises(ValueError, match="other"):
            ar.replace_weekly_progress("u", [_week("u", "2023-W47", 40.0), _week("other", "2023-W47", 1.0)])
        assert ar.count("weekly_progress") == 0


def _committed(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_weekly_progress_joins_the_open_transaction(tmp_path: Path) -> None:
    """Inside an open transaction the weekly rows make no commit of their own: both are durable at commit."""
    with Archive.in_dir(tmp_path) as ar:
        ar.queue_beats(_beats(5), [False] * 5)
        ar.replace_weekly_progress("u", [_week("u", "2023-W47", 40.0)])
        assert _committed(tmp_path / "archive.db", "weekly_progress") == 0
        assert _committed(tmp_path / "archive.db", "beats") == 0
        ar.commit()
        assert _committed(tmp_path / "archive.db", "weekly_progress") == 1
        assert _committed(tmp_path / "archive.db", "beats") == 5


def test_weekly_progress_outside_a_transaction_commits_at_once(tmp_path: Path) -> None:
    """With no transaction open, the weekly rows are a transaction of their own, committed on return."""
    with Archive.in_dir(tmp_path) as ar:
        ar.replace_weekly_progress("u", [_week("u", "2023-W47", 40.0)])
        assert not ar.in_transaction
        assert _committed(tmp_path / "archive.db", "weekly_progress") == 1


def test_a_failure_inside_atomic_undoes_only_its_writes(tmp_path: Path) -> None:
    """A failure inside ``atomic`` removes its rows; the rows queued before it stay and commit."""
    with Archive.in_dir(tmp_path) as ar:
        ar.queue_beats(_beats(5), [False] * 5)
        with pytest.raises(RuntimeError), ar.atomic("weekly"):
            ar.replace_weekly_progress("u", [_week("u", "2023-W47", 40.0)])
            raise RuntimeError("stop")
        ar.commit()
        assert _committed(tmp_path / "archive.db", "beats") == 5
        assert _committed(tmp_path / "archive.db", "weekly_progress") == 0


def test_a_failure_in_atomic_of_its_own_leaves_nothing_open(tmp_path: Path) -> None:
    """A failing ``atomic`` that opened the transaction rolls it back: nothing written, nothing left open."""
    with Archive.in_dir(tmp_path) as ar:
        with pytest.raises(RuntimeError), ar.atomic():
            ar.add_beats(_beats(3))
            raise RuntimeError("stop")
        assert not ar.in_transaction
        assert ar.count("beats") == 0
