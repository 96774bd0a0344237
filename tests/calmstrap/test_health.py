"""`calmstrap health`: alive while `calmstrap run` runs (its heartbeat is fresh), not alive otherwise."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from calmstrap.cmd_health import HEARTBEAT_NAME, Heartbeat, check, write_heartbeat
from tests.calmstrap.conftest import cli_env


def _health(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", "health", "--data-dir", str(data), *extra],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_health_follows_a_running_service(tmp_path: Path) -> None:
    """While `run` runs, health exits 0; after it stopped, health exits 1 and says it is not running."""
    data = tmp_path / "d"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calmstrap",
            "run",
            "--source",
            "sim",
            "--speed",
            "20",
            "--data-dir",
            str(data),
        ],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (data / HEARTBEAT_NAME).exists():
            assert time.monotonic() < deadline, "no heartbeat within 60 s"
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        assert stat.S_IMODE((data / HEARTBEAT_NAME).stat().st_mode) == 0o600
        alive = _health(data)
        assert alive.returncode == 0 and "alive" in alive.stdout
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    gone = _health(data)
    assert gone.returncode == 1 and "not running" in gone.stderr


def test_a_stale_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    """A heartbeat older than --max-age means stuck or gone: exit 1 with its age."""
    t = time.time() - 3000.0
    write_heartbeat(tmp_path / HEARTBEAT_NAME, Heartbeat(t, 1))
    res = _health(tmp_path, "--max-age", "90")
    assert res.returncode == 1 and "more than 90 s" in res.stderr
    assert "3000 s old" in (check(tmp_path / HEARTBEAT_NAME, 90.0, now=t + 3000.0) or "")
    assert check(tmp_path / HEARTBEAT_NAME, 90.0, now=t + 60.0) is None


def test_garbage_is_not_a_heartbeat(tmp_path: Path) -> None:
    """A file that is not a heartbeat is reported as unreadable, not as alive."""
    (tmp_path / HEARTBEAT_NAME).write_text("{}")
    problem = check(tmp_path / HEARTBEAT_NAME, 90.0)
    assert problem is not None and "unreadable" in problem
