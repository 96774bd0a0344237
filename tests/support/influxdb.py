"""A real InfluxDB 1.x (Debian package ``influxdb``, ``/usr/bin/influxd``) for tests.

:func:`running_influxdb` starts ``influxd`` with a generated config: data, meta and WAL in a temp dir, the
HTTP API on a free loopback port, the RPC (backup) service on another free loopback port, usage reporting,
self-monitoring and every other listener off, so it never collides with a system instance on the default
ports. :meth:`InfluxServer.stop` / :meth:`InfluxServer.start` restart it on the same port (outage tests).
In CI (``CI=true``) a missing ``influxd`` fails the test; elsewhere the test is skipped.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import procs
from tests.support.procs import missing_binary, terminate

INFLUXD_CANDIDATES = ("influxd", "/usr/bin/influxd")
START_TIMEOUT_S = 30.0


def influxd_binary() -> str | None:
    for name in INFLUXD_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_influxd() -> str:
    """The influxd path; a missing binary fails under ``CI=true`` and skips elsewhere."""
    found = influxd_binary()
    if found is None:
        missing_binary("influxd not found (Debian package 'influxdb')")
    return found


def free_port() -> int:
    return procs.free_port()


def _config(root: Path, http_port: int, rpc_port: int) -> str:
    return f"""
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root / "meta"}"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{root / "data"}"
  wal-dir = "{root / "wal"}"
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false
  trace-logging-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false
  max-body-size = 0

[logging]
  level = "warn"
  suppress-logo = true

[ifql]
  enabled = false

[continuous_queries]
  enabled = false
"""


@dataclass
class InfluxServer:
    """One influxd process; ``url`` stays the same across :meth:`stop` and :meth:`start`."""

    binary: str
    root: Path
    http_port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.root / "influxd.log"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        conf = self.root / "influxdb.conf"
        conf.write_text(_config(self.root, self.http_port, self.rpc_port), encoding="utf-8")
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [self.binary, "-config", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"influxd exited with {self.proc.returncode}: {self._log_tail()}")
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"influxd did not answer /ping within {START_TIMEOUT_S} s: {self._log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        terminate(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        return ""

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1.0) as resp:
                return bool(resp.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def query(
        self, q: str, db: str = "", *, username: str = "", password: str = "", epoch: str = "s"
    ) -> list[dict[str, Any]]:
        """Run InfluxQL through ``/query``; the ``results`` list (an error in a result raises)."""
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        req = urllib.request.Request(
            f"{self.url}/query", data=urllib.parse.urlencode(params).encode(), method="POST"
        )
        if username:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = json.loads(resp.read())
        if "error" in body:
            raise RuntimeError(f"InfluxQL error for {q!r}: {body['error']}")
        results: list[dict[str, Any]] = body.get("results", [])
        for r in results:
            if "error" in r:
                raise RuntimeError(f"InfluxQL error for {q!r}: {r['error']}")
        return results

    def create_database(self, db: str) -> None:
        self.query(f'CREATE DATABASE "{db}"')

    def count(self, measurement: str, db: str) -> int:
        """Points in one measurement: the largest per-field COUNT (every point has at least one field)."""
        results = self.query(f'SELECT COUNT(*) FROM "{measurement}"', db)
        series = results[0].get("series", []) if results else []
        if not series:
            return 0
        values = series[0]["values"][0][1:]
        return int(max(v or 0 for v in values))


@contextlib.contextmanager
def running_influxdb(root: Path) -> Iterator[InfluxServer]:
    """Start influxd under ``root`` (a temp dir); stop it afterwards, whatever happened."""
    server = InfluxServer(binary=require_influxd(), root=root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
