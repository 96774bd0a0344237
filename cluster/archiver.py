"""``calmstrap archive``: the results stream into the SQLite archive, exactly once, and each prompt delivered once.

One durable pull consumer (``archiver``) reads ``calmstrap.out.>`` in stream order. The archive records, in
the same transaction as the rows, the last stream sequence it applied, so a restart skips what is
already in and nothing is applied twice. A prompt is delivered as the pipeline of ``run`` does it: its
row is committed first, then it is sent (if still within its expiry), then the channel it went out on is
recorded; a crash in between never sends it twice. InfluxDB, exports and the dashboard read this archive
as they read a home archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from alerts.catalog import Prompt
from cluster import subjects as sj
from cluster.delivery import InOrder
from cluster.errors import BadMessage
from cluster.ops import ArchiveOp
from storage.archive import Archive

log = logging.getLogger("calmstrap.cluster.archiver")

Deliver = Callable[[Prompt], Awaitable[str]]


@dataclass(slots=True)
class ArchiverStats:
    applied: int = 0
    skipped: int = 0
    bad: int = 0
    delivered: int = 0
    expired: int = 0
    batches: int = 0
    missed: int = 0
    """Deliveries lost on the way (each time the consumer was recreated after the last applied result)."""
    delivered_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Archiver:
    js: JetStreamContext
    archive: Archive
    deliver: Deliver | None = None
    refresh_progress: Callable[[str], object] | None = None
    """Called for each user an episode was archived for (the weekly progress rows the dashboard reads)."""
    batch: int = 512
    clock: Callable[[], float] = time.time
    stats: ArchiverStats = field(default_factory=ArchiverStats)
    _order: InOrder = field(default_factory=InOrder)

    async def run(self, stop: Callable[[], bool]) -> None:
        applied = self.archive.applied_seq(sj.RESULTS_STREAM)
        log.info("archiver: results applied up to stream sequence %d", applied)
        await self.consume(await self._retrying(applied), applied, stop)

    async def consume(
        self, sub: JetStreamContext.PullSubscription, applied: int, stop: Callable[[], bool]
    ) -> None:
        """Apply what ``sub`` (from :meth:`_subscribe`) delivers, after ``applied``, until ``stop()``."""
        try:
            while not stop():
                try:
                    msgs = await sub.fetch(self.batch, timeout=2.0)
                except TimeoutError:
                    continue
                except Exception as exc:  # a node away: the client reconnects; try again
                    log.warning("archiver: fetch failed (%s); retrying", exc)
                    await asyncio.sleep(0.5)
                    continue
                n = next((i for i, m in enumerate(msgs) if not self._order.accept(m)), len(msgs))
                if n:
                    applied = await self._apply(msgs[:n], applied)
                    with contextlib.suppress(Exception):
                        await msgs[n - 1].ack()
                if n < len(
                    msgs
                ):  # a delivery never arrived (cluster.delivery): start over after the last applied
                    self.stats.missed += 1
                    log.warning(
                        "archiver: a delivery was lost on the way; consuming again from stream sequence %d",
                        applied + 1,
                    )
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = await self._retrying(applied)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _retrying(self, applied: int) -> JetStreamContext.PullSubscription:
        delay = 0.2
        while True:
            try:
                return await self._subscribe(applied)
            except Exception as exc:  # a slow or partial cluster: try again
                log.warning("archiver: set-up failed (%s); retrying", exc)
                await asyncio.sleep(random.uniform(0.1, delay))
                delay = min(delay * 2, 5.0)

    async def _subscribe(self, applied: int) -> JetStreamContext.PullSubscription:
        """The archiver's consumer, new, from the stream sequence after ``applied`` (the archive knows where
        it is; a new consumer's deliveries count from 1, so a lost one is noticed)."""
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(sj.RESULTS_STREAM, sj.ARCHIVER_CONSUMER)
        self._order = InOrder()
        await self.js.add_consumer(
            sj.RESULTS_STREAM,
            ConsumerConfig(
                durable_name=sj.ARCHIVER_CONSUMER,
                filter_subject=f"{sj.RESULTS_PREFIX}.>",
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE if applied else DeliverPolicy.ALL,
                opt_start_seq=applied + 1 if applied else None,
                ack_policy=AckPolicy.ALL,
                ack_wait=30.0,
                max_ack_pending=-1,
                max_deliver=-1,
            ),
        )
        return await self.js.pull_subscribe_bind(sj.ARCHIVER_CONSUMER, stream=sj.RESULTS_STREAM)

    async def _apply(self, msgs: list, applied: int) -> int:  # type: ignore[type-arg]
        prompts: list[Prompt] = []
        episode_users: set[str] = set()
        last = applied
        for msg in msgs:
            seq = int(msg.metadata.sequence.stream)
            if seq <= last:
                self.stats.skipped += 1
                continue
            last = seq
            try:
                op = ArchiveOp.decode(msg.subject, msg.data)
                op.apply(self.archive)
            except (BadMessage, TypeError, ValueError) as exc:
                self.stats.bad += 1
                log.warning("archiver: skipped result %d on %s (%s)", seq, msg.subject, exc)
                continue
            self.stats.applied += 1
            if op.name == "add_prompt" and isinstance(op.args[0], Prompt):
                prompts.append(op.args[0])
            if op.name == "add_episode":
                episode_users.add(sj.user_of(msg.subject))
        self.archive.set_applied_seq(sj.RESULTS_STREAM, last)
        self.archive.commit()  # rows (and prompts, as "none") durable before anything is sent
        if self.refresh_progress is not None:
            for user in sorted(episode_users):
                try:
                    self.refresh_progress(user)
                except Exception:  # progress is derived data: never stop the archive for it
                    log.exception("archiver: weekly progress of %s not refreshed", user)
        self.stats.batches += 1
        for p in prompts:
            await self._deliver(p)
        return last

    async def _deliver(self, p: Prompt) -> None:
        if self.deliver is None:
            return
        if self.clock() > p.expires_t:
            self.stats.expired += 1
            self.archive.set_prompt_delivery(p.id, "expired")
            log.info("prompt %s expired before it could be delivered", p.id)
        else:
            via = await self.deliver(p)
            self.stats.delivered += 1
            self.stats.delivered_ids.append(p.id)
            self.archive.set_prompt_delivery(p.id, via)
            log.info("prompt %s delivered via %s", p.id, via)
        self.archive.commit()
