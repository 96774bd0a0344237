"""Honest link history: after `kill -9` of `run`, the restart records the downtime as a gap."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.calmstrap.conftest import cli_env


def _run(d: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "calmstrap", "run", "--source", "sim", "--data-dir", str(d)],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return int(con.execute(sql).fetchone()[0] or 0)
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _wait_for(db: Path, sql: str, at_least: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _count(db, sql) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{sql} did not reach {at_least} within {timeout_s} s")
        time.sleep(0.2)


def test_kill_9_then_restart_records_the_downtime_as_a_gap(tmp_path: Path) -> None:
    """The restart adds 'disconnected' at the last beat before the kill and a gap from there to the restart."""
    d = tmp_path / "data"
    db = d / "archive.db"
    first = _run(d, tmp_path)
    try:
        _wait_for(db, "SELECT COUNT(*) FROM beats", 5)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    con = sqlite3.connect(db)
    # what the kill left durable: the beats and the beats journal not folded yet (the restart folds it)
    last_beat_t, beats_before = con.execute(
        "SELECT MAX(t), COUNT(*) FROM (SELECT t FROM beats UNION ALL SELECT t FROM beats_recent)"
    ).fetchone()
    assert con.execute(
        "SELECT connected FROM device_status WHERE connected IS NOT NULL ORDER BY seq DESC LIMIT 1"
    ).fetchone() == (1,)
    con.close()
    time.sleep(2.0)  # the downtime
    restart_t = time.time()
    second = _run(d, tmp_path)
    try:
        _wait_for(db, "SELECT COUNT(*) FROM beats", beats_before + 3)
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=20) == 0, second.stderr.read() if second.stderr else ""
    con = sqlite3.connect(db)
    try:
        gaps = con.execute("SELECT start_t, end_t, reason FROM gaps WHERE reason = 'disconnect'").fetchall()
        assert len(gaps) == 1
        start_t, end_t, _ = gaps[0]
        assert start_t == last_beat_t
        assert restart_t - 0.5 <= end_t <= restart_t + 10.0
        first_new_beat = con.execute("SELECT MIN(t) FROM beats WHERE t > ?", (last_beat_t,)).fetchone()[0]
        assert first_new_beat >= end_t - 1.0
        # the strap's link rows in order: connected (first run), disconnected (closed on restart), connected ...
        links = [
            c
            for (c,) in con.execute(
                "SELECT connected FROM device_status WHERE connected IS NOT NULL ORDER BY seq"
            )
        ]
        second_connect = links.index(1, 1)
        assert links[second_connect - 1] == 0
        closed_t = con.execute(
            "SELECT t FROM device_status WHERE connected = 0 ORDER BY seq LIMIT 1"
        ).fetchone()[0]
        assert closed_t == last_beat_t
    finally:
        con.close()
