"""The beats' one user-keyed index (user, device, t): reads by user go device by device on it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sensors.beats import Beat
from storage.archive import MIGRATIONS, Archive
from storage.progress import load_wear

T0 = 1_699_999_600.0  # 400 s after a clock hour starts (472,222 h since 1970)


def _beats(device: str, n: int, t0: float = T0, user: str = "u") -> list[Beat]:
    return [Beat(t=t0 + i, rr_ms=1000.0, device=device, user=user) for i in range(n)]


def _indexes(ar: Archive) -> set[str]:
    return {
        r[0] for r in ar.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'beats'")
    }


def test_new_archive_keys_beats_by_strap_and_by_seq_only(tmp_path: Path) -> None:
    """A new archive indexes the beats by (user, device, t) and by seq, nothing else."""
    with Archive.in_dir(tmp_path) as ar:
        assert _indexes(ar) == {"sqlite_autoindex_beats_1", "beats_seq"}


def test_migration_drops_the_user_time_index(tmp_path: Path) -> None:
    """An archive of schema version 7 loses its beats (user, t) index when opened, and keeps its beats."""
    con = sqlite3.connect(tmp_path / "archive.db")
    for v, sql in enumerate(MIGRATIONS[:7], start=1):
        con.executescript(sql)
        con.execute(f"PRAGMA user_version = {v}")
    con.execute("INSERT INTO beats (seq, user, device, t, rr_ms) VALUES (1, 'u', 'd', 1.0, 900.0)")
    con.commit()
    assert "beats_user_t" in {
        r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    con.close()
    with Archive.in_dir(tmp_path) as ar:
        assert "beats_user_t" not in _indexes(ar)
        assert ar.count("beats") == 1


def test_devices_lists_each_device_once_in_order(tmp_path: Path) -> None:
    """devices() gives a user's devices once each, sorted, and nothing of other users."""
    with Archive.in_dir(tmp_path) as ar:
        ar.add_beats(_beats("strap-b", 50) + _beats("strap-a", 3) + _beats("strap-c", 1, user="other"))
        ar.commit()
        assert ar.devices("u") == ["strap-a", "strap-b"]
        assert ar.devices("other") == ["strap-c"]
        assert ar.devices("nobody") == []


def test_beat_span_covers_every_device(tmp_path: Path) -> None:
    """beat_span() is the first and last beat over all of a user's devices; (None, None) without beats."""
    with Archive.in_dir(tmp_path) as ar:
        ar.add_beats(_beats("a", 10, t0=T0 + 100.0) + _beats("b", 5, t0=T0))
        ar.commit()
        assert ar.beat_span("u") == (T0, T0 + 109.0)
        assert ar.beat_span("nobody") == (None, None)


def test_wear_sums_devices_within_each_clock_hour(tmp_path: Path) -> None:
    """Two straps worn in the same hour add their seconds; each hour is dated by its first beat."""
    with Archive.in_dir(tmp_path) as ar:
        ar.add_beats(_beats("a", 600) + _beats("b", 100, t0=T0 + 3300.0) + _beats("b", 60, t0=T0 - 100.0))
        ar.commit()
        wear = load_wear(ar, "u", 0.0)
    assert [(w.t, w.seconds) for w in wear] == [(T0 - 100.0, 660.0), (T0 + 3300.0, 100.0)]
