"""``calmstrap worker``: partitions taken through leases, consumed in order, checkpointed, acknowledged.

* Leases: key ``p.<n>`` in the bucket ``calmstrap_leases`` (its TTL is the lease time), created with
  compare-and-set (``create``), renewed with ``update(last=revision)`` and dropped at once when a renewal
  fails. Each worker also keeps ``w.<id>`` alive there; a worker takes free partitions up to its fair share
  (partitions / live workers, rounded up) and hands back the ones above it.
* Consuming: one durable pull consumer per partition owner (``p<n>-<worker>``, filter
  ``calmstrap.p.<n>.*``); a new owner deletes its predecessors' consumers, so a worker that has not yet
  noticed its lost lease cannot take messages from the new owner's consumer. A new owner
  reads the partition checkpoint (``p.<n>`` in ``calmstrap_state``: the stream sequence every message up to
  which is covered by saved user states), recreates the consumer from the next sequence and replays.
  A delivery that never arrives (a hole in the consumer sequence, :mod:`cluster.delivery`) makes the owner
  use nothing after it and recreate its consumer after the last message it processed.
* State: ``u.<user>`` in ``calmstrap_state`` holds the user's state and the stream sequence it covers; a
  replayed message at or below it is skipped. Every state write is a compare-and-set on the revision the
  owner last saw, so a worker that lost its lease cannot overwrite its successor's state.
* Outputs go to ``calmstrap.out.<user>.<kind>`` with deterministic ids and are acknowledged by the server
  before the checkpoint that covers their inputs is written; inputs are acknowledged only after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import struct
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from cluster import subjects as sj
from cluster.cas import CasKey, cas_get, cas_put
from cluster.delivery import InOrder, publish_all
from cluster.errors import BadMessage, ClusterError, LeaseLost

log = logging.getLogger("calmstrap.cluster.worker")

STARTUP_ROUNDS = 3
"""Balancing rounds in which a new worker takes at most two partitions per round."""
CHECKPOINT_MAGIC = b"CK"
CHECKPOINT_VERSION = 1
_HEAD = struct.Struct(">2sBQ")


@dataclass(frozen=True, slots=True)
class Inbound:
    """One collector event as a worker reads it from the notification stream."""

    stream_seq: int
    user: str
    device: str
    epoch: str
    dev_seq: int
    kind: sj.EventKind
    arrival_t: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Outbound:
    """One output for the results stream; ``msg_id`` is a function of the input, so replays de-duplicate."""

    subject: str
    msg_id: str
    payload: bytes
    after_all: bool = False
    """Stored only after every output before it (it updates what they insert: ``cluster.ops.UPDATES``)."""


class PartitionHost(Protocol):
    """The per-user session code a worker runs (calmstrap wires the same sessions as ``run``)."""

    def restore(self, user: str, state: bytes | None) -> None: ...

    async def handle(self, ev: Inbound) -> list[Outbound]: ...

    def dump(self, user: str) -> bytes: ...

    def forget(self, user: str) -> None: ...


def parse_inbound(msg: Msg) -> Inbound:
    """Read a collector message; raises :class:`BadMessage` for anything calmstrap did not write."""
    h = msg.headers or {}
    try:
        meta = msg.metadata
        return Inbound(
            stream_seq=int(meta.sequence.stream),
            user=sj.user_of(msg.subject),
            device=h[sj.HDR_DEVICE],
            epoch=h[sj.HDR_EPOCH],
            dev_seq=int(h[sj.HDR_SEQ]),
            kind=sj.EventKind(h[sj.HDR_EVENT]),
            arrival_t=float(h[sj.HDR_ARRIVAL]),
            data=bytes(msg.data),
        )
    except (KeyError, ValueError, ClusterError) as exc:
        raise BadMessage(msg.subject, f"missing or bad header ({exc})") from None


def encode_checkpoint(stream_seq: int, state: bytes) -> bytes:
    return _HEAD.pack(CHECKPOINT_MAGIC, CHECKPOINT_VERSION, stream_seq) + state


def decode_checkpoint(data: bytes) -> tuple[int, bytes]:
    if len(data) < _HEAD.size:
        raise ClusterError("checkpoint too short")
    magic, version, seq = _HEAD.unpack_from(data)
    if magic != CHECKPOINT_MAGIC or version != CHECKPOINT_VERSION:
        raise ClusterError(f"checkpoint format {magic!r} v{version} unknown")
    return int(seq), data[_HEAD.size :]


@dataclass(slots=True)
class WorkerStats:
    processed: int = 0
    skipped_replayed: int = 0
    bad: int = 0
    outputs: int = 0
    checkpoints: int = 0


@dataclass(slots=True)
class PartitionRunner:
    """Consumes one partition while its lease is held."""

    js: JetStreamContext
    state_kv: KeyValue
    partition: int
    host: PartitionHost
    checkpoint_every_s: float
    stats: WorkerStats
    fetch_batch: int = 64
    _users: dict[str, CasKey] = field(default_factory=dict)
    _user_seq: dict[str, int] = field(default_factory=dict)
    _dirty: set[str] = field(default_factory=set)
    _pkey: CasKey | None = None
    _covered: int = 0
    _last_seq: int = 0
    _last_msg: Msg | None = None
    _order: InOrder = field(default_factory=InOrder)
    owner: str = "w"
    stopping: bool = False
    lost: bool = False
    """Set when the lease is gone: the runner stops before touching anything else (cancellation alone can
    be swallowed inside a client call)."""

    def _check(self) -> None:
        if self.lost:
            raise LeaseLost(self.partition, f"p.{self.partition}")

    async def run(self) -> None:
        await self.consume(await self._retrying(self._setup))

    async def consume(self, sub: JetStreamContext.PullSubscription) -> None:
        """Process what ``sub`` (from :meth:`_setup`) delivers until stopped, checkpointing on the way."""
        next_checkpoint = time.monotonic() + self.checkpoint_every_s
        delay = 0.2
        try:
            while not self.stopping:
                try:
                    msgs = await sub.fetch(self.fetch_batch, timeout=2.0)
                except TimeoutError:
                    msgs = []
                except (LeaseLost, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    log.warning("partition %d: fetch failed (%s); retrying", self.partition, exc)
                    await asyncio.sleep(random.uniform(0.1, delay))
                    delay = min(delay * 2, 5.0)
                    continue
                delay = 0.2
                self._check()
                if msgs and not await self._process(msgs):
                    # a delivery never arrived: nothing after it was used; start over right after the last
                    # message processed (the sessions' state is exactly that far)
                    log.warning(
                        "partition %d: a delivery was lost on the way; consuming again from stream sequence %d",
                        self.partition,
                        self._last_seq + 1,
                    )
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = await self._retrying(self._subscribe)
                if time.monotonic() >= next_checkpoint:
                    await self.checkpoint()
                    next_checkpoint = time.monotonic() + self.checkpoint_every_s
            await self.checkpoint()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _retrying(
        self, setup: Callable[[], Awaitable[JetStreamContext.PullSubscription]]
    ) -> JetStreamContext.PullSubscription:
        """A node away or a slow cluster: set up again, with a growing random delay."""
        delay = 0.2
        while True:
            try:
                return await setup()
            except LeaseLost:
                raise
            except Exception as exc:
                log.warning("partition %d: set-up failed (%s); retrying", self.partition, exc)
                await asyncio.sleep(random.uniform(0.1, delay))
                delay = min(delay * 2, 5.0)

    async def _setup(self) -> JetStreamContext.PullSubscription:
        """Read the partition checkpoint and recreate the partition's consumer from the next sequence."""
        pkey, raw = await cas_get(self.state_kv, f"p.{self.partition}")
        self._pkey = pkey
        self._covered = decode_checkpoint(raw)[0] if raw else 0
        self._last_seq = self._covered
        self._users.clear()
        self._user_seq.clear()
        self._dirty.clear()
        return await self._subscribe()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        """This owner's consumer (its predecessors' deleted), from the stream sequence after ``_last_seq``."""
        self._check()
        durable = f"{sj.partition_consumer(self.partition)}-{self.owner}"
        for info in await self.js.consumers_info(sj.NOTIFY_STREAM):
            name = info.name or ""
            if name == durable or name.startswith(sj.partition_consumer(self.partition) + "-"):
                with contextlib.suppress(NotFoundError):
                    await self.js.delete_consumer(sj.NOTIFY_STREAM, name)
        start = self._last_seq + 1
        await self.js.add_consumer(
            sj.NOTIFY_STREAM,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=sj.partition_filter(self.partition),
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE if self._last_seq else DeliverPolicy.ALL,
                opt_start_seq=start if self._last_seq else None,
                ack_policy=AckPolicy.ALL,
                ack_wait=30.0,
                max_ack_pending=-1,
                max_deliver=-1,
                inactive_threshold=120.0,
            ),
        )
        sub = await self.js.pull_subscribe_bind(durable, stream=sj.NOTIFY_STREAM)
        self._order = InOrder()
        self._last_msg = None  # acknowledgements belong to the consumer just deleted
        log.info("partition %d: consuming from stream sequence %d", self.partition, start)
        return sub

    async def _process(self, msgs: Sequence[Msg]) -> bool:
        """Process a fetched batch in order; False if a delivery before one of them never arrived (the
        messages from there on are left for the consumer :meth:`run` then recreates)."""
        out: list[Outbound] = []
        complete = True
        for msg in msgs:
            if not self._order.accept(msg):
                complete = False
                break
            seq = int(msg.metadata.sequence.stream)
            if seq <= self._last_seq:
                continue  # redelivered
            self._last_seq = seq
            self._last_msg = msg
            try:
                ev = parse_inbound(msg)
            except BadMessage as exc:
                self.stats.bad += 1
                log.warning("partition %d: skipped a message (%s)", self.partition, exc.reason)
                continue
            if ev.user not in self._users:
                key, raw = await cas_get(self.state_kv, f"u.{ev.user}")
                covered, state = decode_checkpoint(raw) if raw else (0, None)
                self._users[ev.user] = key
                self._user_seq[ev.user] = covered
                self.host.restore(ev.user, state)
            if seq <= self._user_seq[ev.user]:
                self.stats.skipped_replayed += 1
                continue
            out.extend(await self.host.handle(ev))
            self._user_seq[ev.user] = seq
            await asyncio.sleep(0)  # let lease renewals and other partitions run between messages
            self._dirty.add(ev.user)
            self.stats.processed += 1
        self._check()
        await publish_all(self.js, out)
        self.stats.outputs += len(out)
        return complete

    async def checkpoint(self) -> None:
        """Save every changed user's state, then the partition's covered sequence, then ack the inputs."""
        self._check()
        if self._last_seq == self._covered:
            return
        for user in sorted(self._dirty):
            self._check()
            await cas_put(
                self.state_kv,
                self._users[user],
                encode_checkpoint(self._user_seq[user], self.host.dump(user)),
                self.partition,
            )
        self._dirty.clear()
        assert self._pkey is not None
        await cas_put(self.state_kv, self._pkey, encode_checkpoint(self._last_seq, b""), self.partition)
        self._covered = self._last_seq
        self.stats.checkpoints += 1
        if self._last_msg is not None:
            with contextlib.suppress(Exception):  # an ack lost is only a redelivery, skipped by sequence
                await self._last_msg.ack()
            self._last_msg = None


@dataclass(slots=True)
class _Held:
    key: CasKey
    runner: PartitionRunner
    task: asyncio.Task[None]
    releasing: bool = False


@dataclass(slots=True)
class Worker:
    js: JetStreamContext
    leases: KeyValue
    state_kv: KeyValue
    host_factory: Callable[[int], PartitionHost]
    partitions: int
    checkpoint_every_s: float = 2.0
    lease_ttl_s: float = 10.0
    balance_every_s: float = 1.0
    """How often free partitions are looked for (a lease released or expired is taken within this)."""
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    stats: WorkerStats = field(default_factory=WorkerStats)
    held: dict[int, _Held] = field(default_factory=dict)
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _leaving: bool = False
    _rounds: int = 0
    """Balancing rounds so far: a worker that has only just started takes a few partitions per round."""
    """Set on a clean stop: this worker no longer counts in anyone's fair share."""

    def _spawn_release(self, p: int) -> None:
        task = asyncio.create_task(self._release(p), name=f"release:{p}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def renew_every_s(self) -> float:
        return self.lease_ttl_s / 4.0

    async def run(self, stop: asyncio.Event) -> None:
        """Hold leases and run partitions until ``stop`` is set; then checkpoint and hand back every lease.

        Renewals run in their own task, never behind a slow acquisition or hand-back."""
        log.info("worker %s: up, %d partitions", self.worker_id, self.partitions)
        renewer = asyncio.create_task(self._renew_forever(), name="lease-renewals")
        try:
            while not stop.is_set():
                await self.balance()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(self.balance_every_s, self.renew_every_s))
        finally:
            # leave the fair share first, so the survivors' share grows while the leases are handed back
            self._leaving = True
            with contextlib.suppress(Exception):
                await self.leases.delete(f"w.{self.worker_id}")
            await asyncio.gather(*(self._release(p) for p in list(self.held)), return_exceptions=True)
            renewer.cancel()
            with contextlib.suppress(BaseException):
                await renewer
            with contextlib.suppress(Exception):
                await self.leases.delete(f"w.{self.worker_id}")

    async def _renew_forever(self) -> None:
        wid = self.worker_id.encode()
        while True:
            if not self._leaving:
                with contextlib.suppress(Exception):  # this worker is alive: counts in everyone's fair share
                    await self.leases.put(f"w.{self.worker_id}", wid)
            await self.renew()
            await asyncio.sleep(self.renew_every_s)

    async def renew(self) -> None:
        """Renew every held lease at once; a lease whose renewal fails is dropped at once."""
        wid = self.worker_id.encode()
        held = list(self.held.items())
        results = await asyncio.gather(
            *(cas_put(self.leases, h.key, wid, p) for p, h in held), return_exceptions=True
        )
        for (p, h), r in zip(held, results, strict=True):
            if isinstance(r, BaseException):
                log.warning("partition %d: lease renewal failed (%s); dropped at once", p, r)
                h.runner.lost = True
                h.task.cancel()
                if self.held.get(p) is h:
                    del self.held[p]

    async def balance(self) -> None:
        """Take free partitions up to the fair share; hand back the ones above it."""
        wid = self.worker_id.encode()
        for p, h in list(self.held.items()):
            if h.task.done() and not h.releasing:
                exc = None if h.task.cancelled() else h.task.exception()
                log.warning("partition %d stopped (%s); handing it back", p, exc)
                self._spawn_release(p)
        live = await self._live_workers()
        if live is None:  # the count is unknown: neither take nor hand back on a guess
            return
        self._rounds += 1
        target = math.ceil(self.partitions / live)
        active = [p for p, h in self.held.items() if not h.releasing]
        if len(active) < target:
            free = [p for p in range(self.partitions) if p not in self.held]
            random.shuffle(free)
            # Workers started together each see the others only after a round or two: until then a few per
            # round, so the first one up does not take everything and hand most of it back. Later, all
            # that is free up to the fair share at once (a stopped or dead worker's partitions).
            take = target - len(active) if self._rounds > STARTUP_ROUNDS else min(2, target - len(active))
            for p in free[:take]:
                key = CasKey(f"p.{p}")
                try:
                    await cas_put(self.leases, key, wid, p)
                except Exception:
                    continue
                self._start(p, key)
        if len(active) > target:  # one per round, so a short-lived miscount does not empty a worker
            self._spawn_release(max(active))

    async def _live_workers(self) -> int | None:
        """Workers counted in the fair share (this one included); None if the bucket could not be read."""
        try:
            keys = await self.leases.keys()
        except NoKeysError:
            return 1
        except Exception:
            return None
        return max(1, sum(1 for k in keys if k.startswith("w.")))

    def _start(self, p: int, key: CasKey) -> None:
        runner = PartitionRunner(
            self.js,
            self.state_kv,
            p,
            self.host_factory(p),
            self.checkpoint_every_s,
            self.stats,
            owner=self.worker_id,  # its own consumer: one a zombie predecessor still pulls from is deleted
        )
        task = asyncio.create_task(runner.run(), name=f"partition:{p}")
        self.held[p] = _Held(key, runner, task)
        log.info("worker %s: took partition %d", self.worker_id, p)

    async def _release(self, p: int) -> None:
        """Let the partition's runner checkpoint and stop (its lease still renewed), then delete the lease."""
        h = self.held.get(p)
        if h is None or h.releasing:
            return
        h.releasing = True
        h.runner.stopping = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(h.task), timeout=15.0)
        h.task.cancel()
        with contextlib.suppress(BaseException):
            await h.task
        if self.held.get(p) is h:
            del self.held[p]
            with contextlib.suppress(Exception):
                await self.leases.delete(h.key.name, last=h.key.rev)
            log.info("worker %s: handed back partition %d", self.worker_id, p)
