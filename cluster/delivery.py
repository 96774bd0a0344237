"""Deliveries from JetStream exactly in order, and outputs published until every one is acknowledged.

A pull consumer hands messages out once; one lost on the way (a reconnection to another node, a consumer
leader change, a fetch that timed out while its messages were in flight) counts as delivered and comes
back only after the ack wait, behind the messages that followed it. A reader that keeps a high-water mark
of stream sequences would then skip it as a redelivery, and with ``AckPolicy.ALL`` acknowledge it with the
next ack: lost for good. :class:`InOrder` notices the hole in the consumer's delivery sequence (which
counts every delivery, so a lost one leaves a hole) before anything after it is used; the reader then
recreates its consumer from the first stream sequence it has not applied.

Outputs are published pipelined, and pipelined publishes can be stored out of order (one in the middle
times out in a leader election and is sent again after the next ones were stored); an update (a beat
flagged, a prompt's outcome) stored before the row it changes would change nothing. :func:`publish_all`
therefore waits for every earlier acknowledgement before it sends an update.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from cluster import subjects as sj

log = logging.getLogger("calmstrap.cluster.delivery")


class Outgoing(Protocol):
    @property
    def subject(self) -> str: ...

    @property
    def msg_id(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


T = TypeVar("T")


@dataclass(slots=True)
class InOrder:
    """The consumer delivery sequences seen from one consumer (reset it with a new consumer)."""

    last: int = 0
    """The last consumer sequence accepted (0: none yet from this consumer)."""
    missed: int = 0
    """Holes seen (each one made the reader start over from its last applied message)."""

    def accept(self, msg: Msg) -> bool:
        """False if a delivery before ``msg`` never reached this reader (``msg`` and the rest must wait).

        A sequence at or below the last (a new consumer leader numbering from its replicated state) is
        accepted: what it brings again is at or below the reader's stream high-water mark."""
        seq = int(msg.metadata.sequence.consumer)
        if seq > self.last + 1:  # a new consumer's first delivery is 1
            self.missed += 1
            return False
        self.last = seq
        return True


def in_order_groups(out: Sequence[T]) -> list[list[T]]:
    """``out`` cut before each output marked ``after_all``: a group is published (pipelined) only once the
    groups before it are acknowledged, so an update never lands in the stream before the rows it changes
    (pipelined publishes can be stored out of order when one in the middle fails and is sent again)."""
    groups: list[list[T]] = []
    for o in out:
        if not groups or getattr(o, "after_all", False):
            groups.append([])
        groups[-1].append(o)
    return groups


async def publish_all(js: JetStreamContext, out: Sequence[Outgoing], *, timeout_s: float = 5.0) -> None:
    """Publish and wait for every ack, group after group (:func:`in_order_groups`); failures are retried
    (same ids) with a growing random delay.

    A group goes out pipelined; after a failure everything from its first unacknowledged output on is sent
    again one at a time, in order (the server drops the ones it already has by their ids)."""
    for group in in_order_groups(out):
        await _publish_group(js, group, timeout_s)


async def _publish_group(js: JetStreamContext, out: Sequence[Outgoing], timeout_s: float) -> None:
    pending = list(out)
    delay = 0.2
    while pending:
        results = await asyncio.gather(
            *(
                js.publish(o.subject, o.payload, timeout=timeout_s, headers={sj.HDR_MSG_ID: o.msg_id})
                for o in pending
            ),
            return_exceptions=True,
        )
        first_bad = next((i for i, r in enumerate(results) if isinstance(r, BaseException)), None)
        if first_bad is None:
            return
        pending = pending[first_bad:]
        log.warning("results stream: %d outputs not acknowledged; retrying", len(pending))
        await asyncio.sleep(random.uniform(0.1, delay))
        delay = min(delay * 2, 5.0)
        while pending:
            try:
                await js.publish(
                    pending[0].subject,
                    pending[0].payload,
                    timeout=timeout_s,
                    headers={sj.HDR_MSG_ID: pending[0].msg_id},
                )
            except Exception:
                await asyncio.sleep(random.uniform(0.1, delay))
                delay = min(delay * 2, 5.0)
                continue
            pending.pop(0)
