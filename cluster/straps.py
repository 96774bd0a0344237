"""Strap leases between edge collectors: several collectors may hear one strap; one at a time records it.

Key ``<user>.<device token>`` in the key-value bucket ``calmstrap_straps`` (its TTL is the lease time,
``[nats] strap_lease_ttl_s``) holds the id of the collector that holds the strap (its outbox epoch, so a
restarted collector recognises its own lease). A collector records a strap's events into its outbox only
while it holds the strap's lease:

* claimed with compare-and-set (expected last revision 0, or the revision of a deletion marker or of its
  own earlier lease), renewed every quarter of the TTL while the strap is heard, released at once (a
  deletion, compare-and-set) when the source ends or the strap has not been heard for half the TTL, after
  the strap's events still in the outbox were acknowledged, so the next holder's come after them;
* a renewal that finds another holder stops the recording at once; a collector that hears a strap it does
  not hold tries to claim it every eighth of the TTL, and takes it when it is free or expired;
* when the cluster cannot be reached, the last holder (or a collector that knows of no other holder) keeps
  recording: the outbox keeps everything through an outage. If another collector took the strap meanwhile,
  the worker drops whichever events of one collector are not newer than the last it processed from another
  (``calmstrap.worker_host.SessionHost``), so a beat is never processed twice.

Edge credentials may use only their own users' keys (:func:`strap_lease_subjects`): the bucket's subjects
and the direct-get API subject of those keys, nothing else of JetStream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import nats.errors
from nats.aio.client import Client
from nats.js.errors import APIError

from cluster.subjects import STRAPS_BUCKET, check_user

log = logging.getLogger("calmstrap.cluster.straps")

STRAP_LEASE_TTL_S = 10.0
_EXPECTED_LAST = "Nats-Expected-Last-Subject-Sequence"
_WRONG_LAST_SEQUENCE = (10071, 10164)
_KEY_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def device_token(device: str) -> str:
    """A device id as one key-value key token: letters, digits, ``_`` and ``-`` kept, other bytes ``=XX``."""
    return "".join(chr(b) if chr(b) in _KEY_SAFE else f"={b:02X}" for b in device.encode("utf-8")) or "=00"


def strap_key(user: str, device: str) -> str:
    return f"{check_user(user)}.{device_token(device)}"


def strap_subject(user: str, device: str) -> str:
    return f"$KV.{STRAPS_BUCKET}.{strap_key(user, device)}"


def strap_lease_subjects(user: str) -> tuple[str, ...]:
    """What an edge collector of ``user`` may publish to for its straps' leases (server permissions)."""
    check_user(user)
    return (
        f"$KV.{STRAPS_BUCKET}.{user}.>",
        f"$JS.API.DIRECT.GET.KV_{STRAPS_BUCKET}.$KV.{STRAPS_BUCKET}.{user}.>",
    )


class Claim(StrEnum):
    HELD = "held"
    TAKEN = "taken"
    """Another collector holds the strap."""
    UNREACHABLE = "unreachable"


class _WrongRevision(Exception):
    pass


@dataclass(slots=True)
class Link:
    """The collector's connection, once there is one (the publisher connects; leases wait for it)."""

    nc: Client | None = None
    up: asyncio.Event = field(default_factory=asyncio.Event)

    def set(self, nc: Client) -> None:
        self.nc = nc
        self.up.set()


@dataclass(slots=True)
class StrapLease:
    """One strap's lease as one collector sees it. :meth:`may_record` gates every event of the strap."""

    user: str
    device: str
    holder: str
    link: Link
    ttl_s: float = STRAP_LEASE_TTL_S
    pending: Callable[[], int] = lambda: 0
    """How many of this strap's events the outbox has not had acknowledged (a release waits for none)."""
    rev: int = 0
    """Revision of the lease this collector holds; 0: none."""
    valid_until: float = -math.inf
    taken: bool = False
    """The last definite answer was: another collector holds it."""
    recording: bool = False
    last_seen: float = -math.inf
    last_t: float = math.nan
    _next_try: float = -math.inf
    _backoff_s: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def key(self) -> str:
        return strap_key(self.user, self.device)

    @property
    def timeout_s(self) -> float:
        return max(0.5, min(2.0, self.ttl_s / 4.0))

    @property
    def retry_s(self) -> float:
        return max(0.25, self.ttl_s / 8.0)

    @property
    def renew_every_s(self) -> float:
        return self.ttl_s / 4.0

    @property
    def silence_s(self) -> float:
        return self.ttl_s / 2.0

    async def may_record(self, arrival_t: float) -> bool:
        """The strap was heard now: may this collector record it? Claims or confirms the lease when due."""
        now = time.monotonic()
        self.last_seen, self.last_t = now, arrival_t
        if self.rev and now < self.valid_until:
            return True
        if now >= self._next_try:
            outcome = await self.claim(wait_link_s=self.ttl_s)
            self.recording = outcome is Claim.HELD or (outcome is Claim.UNREACHABLE and not self.taken)
            if outcome is Claim.UNREACHABLE:
                self._backoff_s = min(self.ttl_s, max(self.retry_s, 2 * self._backoff_s))
            else:
                self._backoff_s = self.retry_s
            self._next_try = time.monotonic() + self._backoff_s
        return self.recording

    async def claim(self, *, wait_link_s: float = 0.0) -> Claim:
        """Take, take back or renew the lease (compare-and-set); sets :attr:`rev` / :attr:`taken`."""
        async with self._lock:
            if self.link.nc is None and wait_link_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.link.up.wait(), timeout=wait_link_s)
            nc = self.link.nc
            if nc is None:
                return Claim.UNREACHABLE
            sent = time.monotonic()
            expected = self.rev
            try:
                for _ in range(3):
                    try:
                        rev = await self._put(nc, self.holder.encode(), expected)
                    except _WrongRevision:
                        current = await self._get(nc)
                        if current is None:
                            expected = 0
                            continue
                        cur_rev, value, deleted = current
                        if deleted or value == self.holder.encode():
                            expected = cur_rev
                            continue
                        self._lost("another collector holds it")
                        return Claim.TAKEN
                    if not self.rev:
                        log.info("strap %s (user %s): lease taken, recording", self.device, self.user)
                    self.rev, self.taken = rev, False
                    self.valid_until = sent + 0.75 * self.ttl_s
                    return Claim.HELD
            except (TimeoutError, nats.errors.Error, APIError, OSError) as exc:
                log.debug("strap %s: lease not reachable (%s)", self.device, exc)
                return Claim.UNREACHABLE
            return Claim.UNREACHABLE

    def _lost(self, why: str) -> None:
        if self.rev or not self.taken:
            log.info("strap %s (user %s): %s; not recording it", self.device, self.user, why)
        self.rev, self.taken, self.recording = 0, True, False
        self.valid_until = -math.inf

    async def release(self, why: str) -> None:
        """Wait (at most the TTL) until the strap's recorded events were acknowledged, then delete the lease."""
        deadline = time.monotonic() + self.ttl_s
        while self.pending() and time.monotonic() < deadline:  # noqa: ASYNC110 (the outbox is SQLite)
            await asyncio.sleep(0.05)
        async with self._lock:
            rev, nc = self.rev, self.link.nc
            self.rev, self.recording, self.valid_until = 0, False, -math.inf
            self._next_try = -math.inf
            if not rev or nc is None:
                return
            with contextlib.suppress(Exception):  # not deleted: it expires after the TTL
                await nc.jetstream().publish(
                    strap_subject(self.user, self.device),
                    b"",
                    timeout=self.timeout_s,
                    headers={"KV-Operation": "DEL", _EXPECTED_LAST: str(rev)},
                )
            log.info("strap %s (user %s): lease released (%s)", self.device, self.user, why)

    async def keep(self, on_silent: Callable[[float], None]) -> None:
        """Renew while the strap is heard; when it has not been heard for :attr:`silence_s`, confirm the
        lease, call ``on_silent(last arrival time)`` (the collector records a disconnect) and release it."""
        while True:
            await asyncio.sleep(self.renew_every_s)
            if not self.rev:
                continue
            if time.monotonic() - self.last_seen > self.silence_s:
                if await self.claim() is Claim.HELD:
                    on_silent(self.last_t)
                    await self.release(f"not heard for {self.silence_s:g} s")
                continue
            await self.claim()

    async def _put(self, nc: Client, value: bytes, expected: int) -> int:
        try:
            ack = await nc.jetstream().publish(
                strap_subject(self.user, self.device),
                value,
                timeout=self.timeout_s,
                headers={_EXPECTED_LAST: str(expected)},
            )
        except APIError as exc:
            if exc.err_code in _WRONG_LAST_SEQUENCE:
                raise _WrongRevision from None
            raise
        return int(ack.seq)

    async def _get(self, nc: Client) -> tuple[int, bytes, bool] | None:
        """(revision, value, deleted) of the key, or None when it has none (expired or never written)."""
        subject = strap_subject(self.user, self.device)
        msg = await nc.request(
            f"$JS.API.DIRECT.GET.KV_{STRAPS_BUCKET}.{subject}", b"", timeout=self.timeout_s
        )
        h = msg.headers or {}
        if h.get("Status") == "404":
            return None
        if "Nats-Sequence" not in h:
            raise nats.errors.Error(f"direct get of {subject}: {h.get('Status')} {h.get('Description')}")
        deleted = h.get("KV-Operation") in ("DEL", "PURGE")
        return int(h["Nats-Sequence"]), bytes(msg.data), deleted
