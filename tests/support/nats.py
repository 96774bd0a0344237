"""A real three-node NATS JetStream cluster for tests (Debian package ``nats-server``).

:func:`running_cluster` writes one config per node (JetStream on, each node with its own store dir in a
temp dir, free loopback client, cluster and monitoring ports, never 4222), starts the three
``nats-server`` processes, waits until every node reports JetStream ready through ``/healthz`` and stops
them at the end. :meth:`NatsNode.stop` / :meth:`NatsNode.start` restart one node on the same ports (outage
and failover tests); :meth:`NatsNode.kill` is ``kill -9``.

Accounts and users (the deployment's model, ``deploy/nats/``): one account ``CALMSTRAP`` with JetStream,
the subject mapping ``calmstrap.notify.<user>`` -> ``calmstrap.p.<partition>.<user>`` (``partition()``,
nats-server 2.8+), a ``service`` user for workers and the archiver, and one ``edge-<user>`` per edge
collector that may only publish its own users' notifications and read replies on its own inbox prefix.
nats-server 2.9 checks publish permissions on the mapped subject, so an edge is allowed
``calmstrap.p.*.<user>`` (what ``calmstrap.notify.<user>`` becomes), nothing else.
In CI (``CI=true``) a missing ``nats-server`` fails the test; elsewhere the test is skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cluster.straps import strap_lease_subjects
from tests.support import procs
from tests.support.procs import missing_binary, terminate

NATS_CANDIDATES = ("/usr/sbin/nats-server", "/usr/bin/nats-server")
START_TIMEOUT_S = 60.0
"""After a restart of every node, an R3 stream can take over 30 s to be current again on a loaded machine
(seen: 'calmstrap_results is not current' for 30 s at load average 4)."""
PARTITIONS = 16
SERVICE_USER = "service"
SERVICE_PASSWORD = "service-secret-for-tests"


def nats_binary() -> str | None:
    for c in NATS_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("nats-server")


def require_nats_server() -> str:
    """The nats-server path; a missing binary fails under ``CI=true`` and skips elsewhere."""
    found = nats_binary()
    if found is None:
        missing_binary("nats-server not found (Debian package nats-server)")
    return found


def free_port() -> int:
    """A free loopback port that is not NATS's standard 4222 (or its cluster / monitoring ports)."""
    while True:
        port = procs.free_port()
        if port not in (4222, 6222, 8222):
            return port


def edge_user(user: str) -> str:
    return f"edge-{user}"


def edge_password(user: str) -> str:
    return f"edge-{user}-secret"


def edge_inbox(user: str) -> str:
    """The inbox prefix an edge collector of ``user`` must use (its only subscribe permission)."""
    return f"_INBOX_edge_{user}"


def _users_block(edge_users: Sequence[str]) -> str:
    lines = [f'      {{ user: "{SERVICE_USER}", password: "{SERVICE_PASSWORD}" }}']
    for u in edge_users:
        leases = ", ".join(f'"{x}"' for x in strap_lease_subjects(u))
        lines.append(
            f'      {{ user: "{edge_user(u)}", password: "{edge_password(u)}", permissions: {{'
            f' publish: {{ allow: ["calmstrap.p.*.{u}", {leases}] }},'
            f' subscribe: {{ allow: ["{edge_inbox(u)}.>"] }} }} }}'
        )
    return ",\n".join(lines)


def node_config(
    name: str,
    store: Path,
    client_port: int,
    cluster_port: int,
    http_port: int,
    routes: Sequence[int],
    edge_users: Sequence[str],
    partitions: int,
) -> str:
    route_list = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes)
    return f"""
server_name: "{name}"
listen: "127.0.0.1:{client_port}"
http: "127.0.0.1:{http_port}"
max_payload: 1048576
jetstream {{
  store_dir: "{store}"
  max_memory_store: 64MB
  max_file_store: 2GB
}}
cluster {{
  name: "calmstrap-test"
  listen: "127.0.0.1:{cluster_port}"
  routes: [{route_list}]
}}
accounts {{
  CALMSTRAP {{
    jetstream: enabled
    mappings = {{
      "calmstrap.notify.*": "calmstrap.p.{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}"
    }}
    users = [
{_users_block(edge_users)}
    ]
  }}
  SYS {{
    users = [ {{ user: "sys", password: "sys-secret-for-tests" }} ]
  }}
}}
system_account: SYS
"""


@dataclass
class NatsNode:
    """One nats-server process of the cluster; ports and store survive :meth:`stop` / :meth:`start`."""

    binary: str
    name: str
    root: Path
    client_port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def conf_path(self) -> Path:
        return self.root / f"{self.name}.conf"

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.name}.log"

    def write_config(self, routes: Sequence[int], edge_users: Sequence[str], partitions: int) -> None:
        store = self.root / f"{self.name}-store"
        store.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(
            node_config(
                self.name,
                store,
                self.client_port,
                self.cluster_port,
                self.http_port,
                routes,
                edge_users,
                partitions,
            ),
            encoding="utf-8",
        )

    def start(self) -> None:
        if self.running:
            return
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """A clean shutdown (SIGTERM; SIGKILL after 15 s)."""
        if self.proc is None:
            return
        terminate(self.proc)
        self.proc = None

    def kill(self) -> None:
        """kill -9: the node dies without a goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def healthy(self) -> bool:
        """True when the node answers ``/healthz`` with JetStream ready."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1.0) as r:
                return bool(json.loads(r.read()).get("status") == "ok")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited: {self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise RuntimeError(f"nats-server {self.name} not healthy after {timeout_s} s: {self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        return ""


@dataclass
class NatsCluster:
    nodes: list[NatsNode]
    partitions: int

    @property
    def servers(self) -> str:
        """Every node's client URL, comma-separated (the ``[nats] servers`` / env value)."""
        return ",".join(n.url for n in self.nodes)

    def service_env(self) -> dict[str, str]:
        """Environment for workers and the archiver (``CALMSTRAP_NATS__*``)."""
        return {
            "CALMSTRAP_NATS__SERVERS": self.servers,
            "CALMSTRAP_NATS__USER": SERVICE_USER,
            "CALMSTRAP_NATS__PASSWORD": SERVICE_PASSWORD,
            "CALMSTRAP_NATS__PARTITIONS": str(self.partitions),
        }

    def edge_env(self, user: str) -> dict[str, str]:
        """Environment for the edge collector of ``user`` (its own credentials and inbox prefix)."""
        return {
            "CALMSTRAP_NATS__SERVERS": self.servers,
            "CALMSTRAP_NATS__USER": edge_user(user),
            "CALMSTRAP_NATS__PASSWORD": edge_password(user),
            "CALMSTRAP_NATS__INBOX_PREFIX": edge_inbox(user),
        }

    def wait_healthy(self) -> None:
        for n in self.nodes:
            if n.running:
                n.wait_healthy()

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


@contextlib.contextmanager
def running_cluster(
    root: Path, *, edge_users: Sequence[str] = (), partitions: int = PARTITIONS, size: int = 3
) -> Iterator[NatsCluster]:
    """Start a ``size``-node JetStream cluster in ``root``; stop it (every node) at the end."""
    binary = require_nats_server()
    root.mkdir(parents=True, exist_ok=True)
    nodes = [NatsNode(binary, f"n{i + 1}", root) for i in range(size)]
    for n in nodes:
        n.write_config([m.cluster_port for m in nodes if m is not n], edge_users, partitions)
    cluster = NatsCluster(nodes, partitions)
    try:
        for n in nodes:
            n.start()
        cluster.wait_healthy()
        yield cluster
    finally:
        cluster.stop()
