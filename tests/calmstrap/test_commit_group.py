"""Grouped commits checkpoint the WAL on a clock (calmstrap.pipeline.CommitGroup)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from calmstrap.pipeline import CommitGroup
from sensors.beats import beats_from_rr
from storage.archive import Archive

T0 = 1_700_000_000.0


def _write_beats(ar: Archive, n: int) -> None:
    beats = beats_from_rr([800.0] * n, start_t=T0, device="d1", user="ana")
    ar.queue_beats(beats, [False] * n)


def test_commit_past_the_checkpoint_interval_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    """A grouped commit after wal_checkpoint_every_s moves the committed rows into the database file."""
    with Archive(tmp_path / "a.db") as ar:
        group = CommitGroup(ar, every_s=0.0, wal_checkpoint_every_s=0.0)
        group.flush()
        before = os.path.getsize(tmp_path / "a.db")
        _write_beats(ar, 5000)
        group.flush()
        assert group.wal_checkpoints == 2
        assert os.path.getsize(tmp_path / "a.db") > before + 5000 * 20


def test_commit_within_the_checkpoint_interval_leaves_the_rows_in_the_wal(tmp_path: Path) -> None:
    """Before wal_checkpoint_every_s a grouped commit writes only the WAL; the database file keeps its size."""
    with Archive(tmp_path / "a.db") as ar:
        group = CommitGroup(ar, every_s=0.0, wal_checkpoint_every_s=math.inf)
        before = os.path.getsize(tmp_path / "a.db")
        _write_beats(ar, 5000)
        group.flush()
        assert group.wal_checkpoints == 0
        assert os.path.getsize(tmp_path / "a.db") == before
        assert os.path.getsize(tmp_path / "a.db-wal") > 5000 * 20
