"""Connecting to the cluster, and creating the streams, consumers and buckets when they are missing.

nats-server 2.9 (Debian) has what this needs: JetStream streams with replicas and a duplicate window
(``Nats-Msg-Id``), durable pull consumers, key-value buckets with compare-and-set, and account subject
mappings with ``partition()``. Stream subject transforms arrived only in 2.10, so the partition mapping is
part of the servers' account configuration (``deploy/nats/``), not something a client can create.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from cluster import subjects as sj
from cluster.straps import STRAP_LEASE_TTL_S

log = logging.getLogger("calmstrap.cluster")

NOTIFY_MAX_AGE_S = 14 * 86400.0
"""How long raw notifications stay in the stream (a worker can replay two weeks)."""
RESULTS_MAX_AGE_S = 14 * 86400.0
DUPLICATE_WINDOW_S = 3600.0
"""A retry within this window is dropped by the server (Nats-Msg-Id); later ones by the worker's seq check."""


@dataclass(frozen=True, slots=True)
class NatsSettings:
    servers: tuple[str, ...]
    user: str = ""
    password: str = ""
    creds_file: str = ""
    inbox_prefix: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    name: str = "calmstrap"
    replicas: int = 3
    partitions: int = 16
    reconnect_min_s: float = 0.25
    reconnect_max_s: float = 5.0

    def __repr__(self) -> str:  # never print the password
        return f"NatsSettings(servers={self.servers!r}, user={self.user!r}, name={self.name!r})"


def _tls(s: NatsSettings) -> ssl.SSLContext | None:
    if not (s.ca_file or s.cert_file or any(u.startswith("tls://") for u in s.servers)):
        return None
    ctx = ssl.create_default_context(cafile=s.ca_file or None)
    if s.cert_file:
        ctx.load_cert_chain(s.cert_file, s.key_file or None)
    return ctx


@contextlib.asynccontextmanager
async def connected(s: NatsSettings) -> AsyncIterator[Client]:
    """A connection that reconnects by itself forever (the client cycles through every server)."""

    async def on_reconnected() -> None:
        log.info("%s: reconnected to the cluster", s.name)

    async def on_disconnected() -> None:
        log.warning("%s: disconnected from the cluster; retrying", s.name)

    async def on_error(exc: Exception) -> None:
        log.debug("%s: connection error: %s", s.name, exc)

    kwargs: dict[str, object] = {}
    if s.user:
        kwargs.update(user=s.user, password=s.password)
    if s.creds_file:
        kwargs["user_credentials"] = s.creds_file
    if s.inbox_prefix:
        kwargs["inbox_prefix"] = s.inbox_prefix
    tls = _tls(s)
    if tls is not None:
        kwargs["tls"] = tls
    delay = s.reconnect_min_s
    while True:  # the first connection: retried with a growing random delay (the client retries after it)
        try:
            nc = await nats.connect(
                servers=list(s.servers),
                name=s.name,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=s.reconnect_min_s,
                connect_timeout=2,
                reconnected_cb=on_reconnected,
                disconnected_cb=on_disconnected,
                error_cb=on_error,
                **kwargs,
            )
            break
        except (OSError, nats.errors.NoServersError, TimeoutError) as exc:
            log.warning("%s: cluster not reachable (%s); retrying", s.name, exc)
            await asyncio.sleep(random.uniform(s.reconnect_min_s, delay))
            delay = min(s.reconnect_max_s, delay * 2)
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
        with contextlib.suppress(Exception):
            await nc.close()


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream when it is missing (an existing one is left as it is)."""
    try:
        await js.stream_info(str(config.name))
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)


async def ensure_kv(js: JetStreamContext, bucket: str, *, replicas: int, ttl_s: float | None) -> KeyValue:
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        kv = await js.create_key_value(
            KeyValueConfig(bucket=bucket, history=1, ttl=ttl_s, replicas=replicas, storage=StorageType.FILE)
        )
        log.info("created key-value bucket %s", bucket)
        return kv


async def ensure_streams(
    js: JetStreamContext, replicas: int, *, strap_lease_ttl_s: float = STRAP_LEASE_TTL_S
) -> None:
    """The notification and results streams (replicated, file storage, de-duplicating), and the bucket of
    the collectors' strap leases (edge credentials cannot create it; direct gets of their own keys only)."""
    try:
        await js.key_value(sj.STRAPS_BUCKET)
    except BucketNotFoundError:
        await js.create_key_value(
            KeyValueConfig(
                bucket=sj.STRAPS_BUCKET,
                history=1,
                ttl=strap_lease_ttl_s,
                replicas=replicas,
                storage=StorageType.FILE,
                direct=True,
            )
        )
        log.info("created key-value bucket %s", sj.STRAPS_BUCKET)
    for name, subjects, max_age in (
        (sj.NOTIFY_STREAM, [f"{sj.PARTITION_PREFIX}.>"], NOTIFY_MAX_AGE_S),
        (sj.RESULTS_STREAM, [f"{sj.RESULTS_PREFIX}.>"], RESULTS_MAX_AGE_S),
    ):
        await ensure_stream(
            js,
            StreamConfig(
                name=name,
                subjects=subjects,
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                max_age=max_age,
                storage=StorageType.FILE,
                num_replicas=replicas,
                duplicate_window=DUPLICATE_WINDOW_S,
            ),
        )


def servers_of(text: str) -> Sequence[str]:
    return tuple(u.strip() for u in text.split(",") if u.strip())
