"""Finding and stopping a test's server binary the same way everywhere."""

from __future__ import annotations

import os
import random
import signal
import socket
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


PORT_RANGE_ENV = "TESTS_PORT_RANGE"
"""``LO-HI``: pick listening ports in that range (``scripts/test`` gives the scenario group 20000-29999, below
the kernel's ephemeral ports that the main suite's port-0 picks come from), so a service one group stops and
restarts on the same port (an outage test) never finds it taken by the other group's new server."""


def free_port() -> int:
    """A free loopback port: the kernel's choice, or one in ``$TESTS_PORT_RANGE`` when that is set."""
    spec = os.environ.get(PORT_RANGE_ENV, "")
    if not spec:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    lo, hi = (int(x) for x in spec.split("-"))
    for _ in range(1000):
        port = random.randint(lo, hi)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {PORT_RANGE_ENV}={spec}")
