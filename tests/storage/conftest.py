"""Fixtures for the storage tests: a real InfluxDB 1.x and a recording HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.influxdb import InfluxServer, running_influxdb

DB = "calmstrap"


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxServer]:
    """A fresh influxd on a free loopback port with an empty database ``calmstrap``."""
    root = tmp_path / "influxdb"
    root.mkdir()
    with running_influxdb(root) as server:
        server.create_database(DB)
        yield server


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """Answers every request with ``status`` and keeps what it received."""

    url: str = ""
    status: int = 204
    requests: list[Recorded] = field(default_factory=list)


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    """A local HTTP server that records each request (method, path with query, headers, body)."""
    rec = RecordingServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            rec.requests.append(
                Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(rec.status)
            payload = b"" if rec.status == 204 else b'{"code":"x","message":"recorded"}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="recording-http", daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
