"""``seq`` comes from the database: two writing processes never share one, and a busy archive waits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from sensors.beats import Beat
from storage.archive import Archive
from storage.schema import SEQ_TABLES

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from sensors.beats import Beat
from storage.archive import Archive
path, device, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Archive(path) as a:
    for i in range(n):
        a.add_beats([Beat(t=1.7e9 + i, rr_ms=800.0, device=device, user="u")])
        a.add_device_status("u", device, 1.7e9 + i, 50.0, True)
        a.commit()
"""


def duplicated_seqs(a: Archive) -> list[tuple[object, ...]]:
    union = " UNION ALL ".join(f"SELECT seq FROM {t}" for t in SEQ_TABLES)
    return a.query(f"SELECT seq, COUNT(*) FROM ({union}) GROUP BY seq HAVING COUNT(*) > 1")


def test_two_writing_processes_never_share_a_seq(tmp_path: Path) -> None:
    """Two processes committing small transactions into one archive at once: every seq is unique."""
    db = tmp_path / "archive.db"
    Archive(db).close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), dev, "400"], env=env) for dev in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Archive(db) as a:
        assert a.count("beats") == 800 and a.count("device_status") == 800
        assert duplicated_seqs(a) == []
        assert a.query("SELECT seq FROM seq_counter")[0][0] == max(
            a.query(f"SELECT MAX(seq) FROM {t}")[0][0] or 0 for t in SEQ_TABLES
        )


def test_a_writer_waits_for_a_long_transaction_instead_of_failing(tmp_path: Path) -> None:
    """A write while another connection holds the lock longer than the busy timeout waits, then lands."""
    db = tmp_path / "archive.db"
    holder = Archive(db)
    holder.add_beats([Beat(t=1.0, rr_ms=800.0, device="h", user="u")])  # holds the write lock, uncommitted
    release = threading.Timer(0.8, holder.commit)
    release.start()
    try:
        with Archive(db, busy_timeout_s=0.05) as other:
            t0 = time.monotonic()
            other.add_beats([Beat(t=2.0, rr_ms=800.0, device="o", user="u")])
            other.commit()
            assert time.monotonic() - t0 >= 0.5
            assert other.busy_waits > 0
            assert other.count("beats") == 2
            assert duplicated_seqs(other) == []
    finally:
        release.join()
        holder.close()


def test_a_rolled_back_transaction_gives_its_seqs_back(tmp_path: Path) -> None:
    """After a rollback the next row gets the seq the rolled-back one had: nothing half-counted."""
    with Archive(tmp_path / "archive.db") as a:
        a.add_beats([Beat(t=1.0, rr_ms=800.0, device="d", user="u")])
        a.commit()
        a.add_beats([Beat(t=2.0, rr_ms=800.0, device="d", user="u")])
        a.rollback()
        a.add_beats([Beat(t=3.0, rr_ms=800.0, device="d", user="u")])
        a.commit()
        assert a.query("SELECT seq FROM beats ORDER BY t") == [(1,), (2,)]
