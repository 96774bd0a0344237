"""Finding and stopping a test's server binary the same way everywhere."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import NoReturn

import pytest


def terminate(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """A clean shutdown: SIGTERM, then SIGKILL when it has not exited after ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def missing_binary(msg: str) -> NoReturn:
    """A service binary is not installed: an error under ``CI=true`` (CI installs it), a skip elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)
