"""A delivery lost on its way to a partition runner or the archiver (another client pulled it from the
consumer: what a reconnection or a consumer leader change does to messages in flight) is noticed, and
consumed again in order, on a real three-node cluster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from cluster import subjects as sj
from cluster.archiver import Archiver
from cluster.connect import ensure_kv, ensure_streams
from cluster.delivery import in_order_groups
from cluster.ops import ArchiveOp
from cluster.worker import Inbound, Outbound, PartitionRunner, WorkerStats, decode_checkpoint
from sensors.beats import Beat
from storage.archive import Archive
from tests.support.nats import SERVICE_PASSWORD, SERVICE_USER, NatsCluster, running_cluster

N = 40
pytestmark = pytest.mark.slow
USER = "u7"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with running_cluster(tmp_path_factory.mktemp("nats"), partitions=4) as cl:
        yield cl


@dataclass
class Seen:
    """A partition host that records the device sequence numbers it is given, in order."""

    dev_seqs: list[int] = field(default_factory=list)

    def restore(self, user: str, state: bytes | None) -> None:
        self.dev_seqs = [int(x) for x in state.decode().split(",") if x] if state else []

    async def handle(self, ev: Inbound) -> list[Outbound]:
        self.dev_seqs.append(ev.dev_seq)
        return []

    def dump(self, user: str) -> bytes:
        return ",".join(map(str, self.dev_seqs)).encode()

    def forget(self, user: str) -> None:
        pass


async def _connect(cl: NatsCluster) -> Client:
    return await nats.connect(cl.servers.split(","), user=SERVICE_USER, password=SERVICE_PASSWORD)


async def _steal(js: JetStreamContext, stream: str, durable: str, n: int) -> list[int]:
    """Pull ``n`` messages from ``durable`` and never acknowledge them: deliveries the owner never gets."""
    thief = await js.pull_subscribe_bind(durable, stream=stream)
    msgs = await thief.fetch(n, timeout=10.0)
    return [int(m.metadata.sequence.stream) for m in msgs]


async def _until(cond: Callable[[], bool], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    for _ in range(int(timeout_s * 10)):
        if cond() or time.monotonic() > end:
            return
        await asyncio.sleep(0.1)


async def _publish_events(js: JetStreamContext, first: int, last: int) -> None:
    for i in range(first, last + 1):
        await js.publish(
            f"{sj.PARTITION_PREFIX}.1.{USER}",
            b"",
            headers={
                sj.HDR_DEVICE: "d",
                sj.HDR_EPOCH: "e",
                sj.HDR_SEQ: str(i),
                sj.HDR_EVENT: sj.EventKind.NOTIFY.value,
                sj.HDR_ARRIVAL: repr(1000.0 + i),
            },
        )


async def _run_until(
    runner: PartitionRunner, sub: JetStreamContext.PullSubscription, done: Callable[[], bool]
) -> None:
    task = asyncio.create_task(runner.consume(sub), name="consume")
    await _until(done, 15.0)
    await asyncio.sleep(0.5)  # one more checkpoint interval
    runner.stopping = True
    await task


def test_a_taken_over_partition_gets_every_event_in_order_when_a_delivery_is_lost(
    cluster: NatsCluster,
) -> None:
    """The first owner checkpoints 10 events; the next resumes after them, and two deliveries of its new
    consumer go to another client: it still processes 11..40 once each, in order."""

    async def go() -> tuple[list[int], list[int], int, int]:
        nc = await _connect(cluster)
        js = nc.jetstream(timeout=10.0)
        await ensure_streams(js, replicas=3)
        state = await ensure_kv(js, sj.STATE_BUCKET, replicas=3, ttl_s=None)
        await _publish_events(js, 1, 10)
        before = Seen()
        first = PartitionRunner(js, state, 1, before, 0.2, WorkerStats(), fetch_batch=8, owner="a")
        await _run_until(first, await first._setup(), lambda: len(before.dev_seqs) >= 10)
        await _publish_events(js, 11, N)
        host = Seen()
        second = PartitionRunner(js, state, 1, host, 0.2, WorkerStats(), fetch_batch=8, owner="b")
        sub = await second._setup()
        stolen = await _steal(js, sj.NOTIFY_STREAM, f"{sj.partition_consumer(1)}-b", 2)
        await _run_until(second, sub, lambda: len(host.dev_seqs) >= N)
        covered = decode_checkpoint((await state.get("p.1")).value)[0]
        await nc.close()
        return host.dev_seqs, stolen, covered, second._covered

    seen, stolen, covered, runner_covered = asyncio.run(go())
    assert len(stolen) == 2, "two deliveries were taken from the new owner's consumer"
    assert seen == list(range(1, N + 1)), "every event once, in order (the stolen ones included)"
    assert covered == runner_covered >= max(stolen)


def test_the_archiver_applies_every_result_in_order_when_a_delivery_is_lost(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    async def go() -> tuple[list[float], list[int], int]:
        nc = await _connect(cluster)
        js = nc.jetstream(timeout=10.0)
        await ensure_streams(js, replicas=3)
        for i in range(1, N + 1):
            op = ArchiveOp("add_beats", ([Beat(t=2000.0 + i, rr_ms=900.0, device="d", user=USER)],))
            await js.publish(
                sj.results_subject(USER, op.kind), op.encode(), headers={sj.HDR_MSG_ID: f"t:{i}"}
            )
        with Archive.in_dir(tmp_path) as archive:
            archiver = Archiver(js, archive, batch=8)
            sub = await archiver._subscribe(0)
            stolen = await _steal(js, sj.RESULTS_STREAM, sj.ARCHIVER_CONSUMER, 3)

            def count() -> int:
                return int(archive.conn.execute("SELECT COUNT(*) FROM beats").fetchone()[0])

            stop = asyncio.Event()
            task = asyncio.create_task(archiver.consume(sub, 0, stop.is_set), name="archiver")
            await _until(lambda: count() >= N, 15.0)
            stop.set()
            await task
            ts = [r[0] for r in archive.conn.execute("SELECT t FROM beats ORDER BY seq")]
        await nc.close()
        return ts, stolen, archiver.stats.missed

    ts, stolen, missed = asyncio.run(go())
    assert len(stolen) == 3
    assert ts == [2000.0 + i for i in range(1, N + 1)], "every result once, in stream order"
    assert missed == 1, "the lost deliveries were noticed once"


def test_an_update_is_published_only_after_everything_before_it() -> None:
    out = [Outbound("s", str(i), b"", after_all=i in (2, 3, 6)) for i in range(8)]
    groups = [[o.msg_id for o in g] for g in in_order_groups(out)]
    assert groups == [["0", "1"], ["2"], ["3", "4", "5"], ["6", "7"]]
    assert in_order_groups([]) == []
