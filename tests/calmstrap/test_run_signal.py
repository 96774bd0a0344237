"""`calmstrap run --source sim` stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.calmstrap.conftest import cli_env


def test_sigint_exits_zero_within_two_seconds_with_a_sound_archive(tmp_path: Path) -> None:
    """SIGINT during `run --source sim` exits 0 within 2 s and the archive passes the integrity check."""
    d = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "calmstrap", "run", "--source", "sim", "--speed", "50", "--data-dir", str(d)],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        db = d / "archive.db"
        while time.monotonic() < deadline:
            if db.exists():
                con = sqlite3.connect(db)
                try:
                    n = con.execute("SELECT COUNT(*) FROM beats").fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
                con.close()
                if n > 100:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("no beats archived within 30 s")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, proc.stderr.read() if proc.stderr else ""
    assert elapsed < 2.0
    con = sqlite3.connect(d / "archive.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
