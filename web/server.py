"""The page's server: uvicorn in the pipeline's own event loop, and the address file the CLI reads.

:func:`serve_page` binds the socket itself (a clear :class:`web.errors.BindError`, and port 0 means any
free port), runs ``uvicorn.Server.serve()`` as a named task in a task group while its body runs, and
writes ``<data-dir>/web.json`` (mode 0600: it may hold the token) so that ``calmstrap feedback`` /
``snooze`` / ``practice`` find the running service. uvicorn's own signal handling is off (the pipeline
owns SIGINT/SIGTERM), and so is its access log (addresses can carry the token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from web.errors import BindError
from web.listen import Listen

log = logging.getLogger("calmstrap.web")

ADDRESS_FILE = "web.json"
ADDRESS_SCHEMA = "calmstrap.web/1"
SHUTDOWN_GRACE_S = 1.0


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers (the service's task group stops it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass(frozen=True, slots=True)
class RunningPage:
    listen: Listen
    port: int
    """The bound port (the one asked for, or the free one chosen for 0)."""

    @property
    def url(self) -> str:
        return self.listen.url(self.port)


def bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(listen.host, listen.port, family, socket.SOCK_STREAM)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(infos[0][4])
    except OSError as exc:
        raise BindError(listen.host, listen.port, exc.strerror or str(exc)) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def write_address_file(data_dir: Path, page: RunningPage, token: str | None) -> Path:
    """``web.json`` in the data dir, created 0600 (the token is a secret)."""
    path = data_dir / ADDRESS_FILE
    doc = {"schema": ADDRESS_SCHEMA, "url": page.url, "pid": os.getpid(), "token": token}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


@contextlib.asynccontextmanager
async def serve_page(
    app: Starlette,
    listen: Listen,
    sock: socket.socket,
    *,
    data_dir: Path | None = None,
    token: str | None = None,
) -> AsyncIterator[RunningPage]:
    """Serve ``app`` on ``sock`` (from :func:`bind`; closed at the end) while the body runs."""
    page = RunningPage(listen, int(sock.getsockname()[1]))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        log_config=None,
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
        server_header=False,
    )
    server = _QuietServer(config)
    address_file = write_address_file(data_dir, page, token) if data_dir is not None else None
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(server.serve(sockets=[sock]), name=f"web:{listen.host}:{page.port}")
            try:
                yield page  # the socket listens already: a request made now waits in its backlog
            finally:
                server.should_exit = True
    finally:
        sock.close()
        if address_file is not None:
            with contextlib.suppress(OSError):
                address_file.unlink()
