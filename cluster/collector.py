"""The edge collector's publisher: the outbox's events to JetStream, each deleted only once acknowledged.

Events go out in outbox order, a batch at a time, every one with ``Nats-Msg-Id`` = device:seq; a failed
publish (broker down, leader election, timeout) leaves the event in the outbox and the publisher waits a
growing random delay before trying again, forever. Nothing is dropped and nothing is sent twice that the
server or the worker would not recognise as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

from nats.js import JetStreamContext

from cluster import subjects as sj
from cluster.outbox import Outbox, OutboxEvent

log = logging.getLogger("calmstrap.cluster.collector")


@dataclass(slots=True)
class PublisherStats:
    acked: int = 0
    duplicates: int = 0
    failures: int = 0


def headers_of(e: OutboxEvent) -> dict[str, str]:
    return {
        sj.HDR_MSG_ID: e.msg_id,
        sj.HDR_DEVICE: e.device,
        sj.HDR_SEQ: str(e.seq),
        sj.HDR_EPOCH: e.epoch,
        sj.HDR_ARRIVAL: repr(e.t),
        sj.HDR_EVENT: str(e.kind),
    }


@dataclass(slots=True)
class Publisher:
    js: JetStreamContext
    outbox: Outbox
    batch: int = 128
    ack_timeout_s: float = 5.0
    retry_min_s: float = 0.2
    retry_max_s: float = 10.0
    stats: PublisherStats = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.stats = PublisherStats()

    async def publish_pending(self) -> int:
        """Send one batch of pending events; returns how many were acknowledged (0 when none pending)."""
        events = self.outbox.pending(self.batch)
        if not events:
            return 0
        results = await asyncio.gather(
            *(
                self.js.publish(
                    sj.notify_subject(e.user), e.data, timeout=self.ack_timeout_s, headers=headers_of(e)
                )
                for e in events
            ),
            return_exceptions=True,
        )
        ok: list[int] = []
        for e, r in zip(events, results, strict=True):
            if isinstance(r, BaseException):
                self.stats.failures += 1
                log.debug("publish of %s failed: %s", e.msg_id, r)
                continue
            ok.append(e.id)
            if r.duplicate:
                self.stats.duplicates += 1
        self.outbox.acked(ok)
        self.stats.acked += len(ok)
        if len(ok) < len(events):
            raise ConnectionError(f"{len(events) - len(ok)} of {len(events)} events not acknowledged")
        return len(ok)

    async def run(self, wake: asyncio.Event, done: asyncio.Event) -> None:
        """Publish until ``done`` is set and the outbox is empty; ``wake`` says new events are in."""
        delay = self.retry_min_s
        while True:
            try:
                n = await self.publish_pending()
                delay = self.retry_min_s
            except Exception as exc:  # broker away: keep everything, wait, retry
                log.warning(
                    "cluster not reachable (%s); %d events kept in the outbox", exc, self.outbox.count()
                )
                await asyncio.sleep(random.uniform(self.retry_min_s, delay))
                delay = min(self.retry_max_s, delay * 2)
                continue
            if n == 0:
                if done.is_set():
                    return
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=0.5)
