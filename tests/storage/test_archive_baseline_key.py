"""The baseline's (user, bin, seq) index: a session's start finds its newest row per bin in one seek."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from processing.arousal import BaselineStats
from storage.archive import MIGRATIONS, Archive

T0 = 1_700_000_000.0


def _stats(hr: float) -> BaselineStats:
    return BaselineStats(hr, 4.0, 3.7, 0.3, 40, source="personal")


def test_load_baseline_seeks_the_user_and_bin(tmp_path: Path) -> None:
    """The newest row of one user and bin is read through the index, not by walking back over seq."""
    with Archive.in_dir(tmp_path) as ar:
        plan = ar.query(
            "EXPLAIN QUERY PLAN SELECT hr_bpm FROM baseline WHERE user = ? AND bin = ? ORDER BY seq DESC LIMIT 1",
            ("u", "all"),
        )
    assert any("baseline_user_bin" in str(r[-1]) for r in plan), plan


def test_load_baseline_gives_each_users_newest_row(tmp_path: Path) -> None:
    """With many users' rows after it, a user's own newest row of the bin is the one read."""
    with Archive.in_dir(tmp_path) as ar:
        ar.save_baseline("u0", T0, _stats(60.0), "all")
        ar.save_baseline("u0", T0 + 1, _stats(61.0), "all")
        ar.save_baseline("u0", T0 + 1, _stats(70.0), "night")
        for i in range(1, 50):
            ar.save_baseline(f"u{i}", T0 + 2, _stats(80.0 + i), "all")
        ar.commit()
        got = ar.load_baseline("u0", "all")
        other = ar.load_baseline("u7", "all")
        assert ar.load_baseline("u1", "night") is None
    assert got is not None and got.hr_bpm == 61.0
    assert other is not None and other.hr_bpm == 87.0


def test_migration_adds_the_index_and_keeps_the_rows(tmp_path: Path) -> None:
    """An archive of schema version 8 gains the index when opened; its baseline rows stay readable."""
    con = sqlite3.connect(tmp_path / "archive.db")
    for v, sql in enumerate(MIGRATIONS[:8], start=1):
        con.executescript(sql)
        con.execute(f"PRAGMA user_version = {v}")
    con.commit()
    con.close()
    with Archive.in_dir(tmp_path) as ar:
        ar.save_baseline("u", T0, _stats(62.0), "all")
        ar.commit()
    with Archive.in_dir(tmp_path) as ar:
        names = {r[0] for r in ar.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        got = ar.load_baseline("u", "all")
    assert "baseline_user_bin" in names
    assert got is not None and got.hr_bpm == 62.0
