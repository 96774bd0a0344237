"""The data dir's service lock: one holder, named when refused, taken over from a dead process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.lock import DataDirLock, DataDirLocked

REPO = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from storage.lock import DataDirLock
lock = DataDirLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def _holder(data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    """While another process holds the lock, acquiring it raises DataDirLocked naming that pid."""
    proc = _holder(tmp_path)
    try:
        with pytest.raises(DataDirLocked) as info:
            DataDirLock(tmp_path).acquire()
        assert info.value.pid == proc.pid
        assert str(proc.pid) in str(info.value)
        assert DataDirLock(tmp_path).held_by() == proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    """After kill -9 of the holder the lock file still names it, yet the next acquire succeeds."""
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "lock").read_text().strip() == str(proc.pid)
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / "lock").read_text().strip() == str(os.getpid())
        assert (tmp_path / "lock").stat().st_mode & 0o777 == 0o600
    finally:
        lock.release()


def test_release_lets_the_next_process_in(tmp_path: Path) -> None:
    """A released lock is free: nobody is named as its holder and a new holder gets it."""
    with DataDirLock(tmp_path):
        pass
    assert DataDirLock(tmp_path).held_by() is None
    start = time.monotonic()
    proc = _holder(tmp_path)
    proc.kill()
    proc.wait()
    assert time.monotonic() - start < 30
