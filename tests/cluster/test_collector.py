"""The edge collector against a real three-node cluster: outages, kill -9, and what its credentials allow."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import nats
import nats.errors
import pytest

from cluster import subjects as sj
from cluster.connect import ensure_streams
from tests.cluster.conftest import Proc, stored_headers, wait_for, write_recording
from tests.support.nats import (
    SERVICE_PASSWORD,
    SERVICE_USER,
    NatsCluster,
    edge_inbox,
    edge_password,
    edge_user,
)

OUTAGE_S = 20.0
"""The short broker outage of the main suite (the cluster is down from the collector's start)."""
LONG_OUTAGE_S = 600.0
"""The issue's 10 minutes, mid-run (the ``scenario`` group)."""


async def _create_streams(cl: NatsCluster) -> None:
    nc = await nats.connect(cl.servers.split(","), user=SERVICE_USER, password=SERVICE_PASSWORD)
    await ensure_streams(nc.jetstream(), replicas=3)
    await nc.close()


async def _stored(cl: NatsCluster, user: str) -> list[tuple[str, int]]:
    """(device, seq) of every collector message stored for ``user``, in stream order."""
    return [(h[sj.HDR_DEVICE], int(h[sj.HDR_SEQ])) for h in await stored_headers(cl, user)]


def _last_seq(outbox_dir: Path) -> dict[str, int]:
    con = sqlite3.connect(outbox_dir / "outbox.db")
    try:
        return dict(con.execute("SELECT device, last FROM device_seq").fetchall())
    finally:
        con.close()


def _pending(outbox_dir: Path) -> int:
    con = sqlite3.connect(outbox_dir / "outbox.db")
    try:
        return int(con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        con.close()


def _collect(
    spawn: Callable[..., Proc], cl: NatsCluster, name: str, rec: Path, edge: Path, speed: float
) -> Proc:
    return spawn(
        name,
        "collect",
        "--source",
        f"replay:{rec}",
        "--speed",
        str(speed),
        "--data-dir",
        str(edge),
        env=cl.edge_env("u0") | {"CALMSTRAP_GENERAL__USER": "u0"},
    )


@pytest.mark.scenario
@pytest.mark.slow
def test_collector_delivers_every_notification_once_after_a_broker_outage(
    tmp_path: Path, nats_cluster: NatsCluster, spawn: Callable[..., Proc]
) -> None:
    """With every node down for the outage, the collector keeps all; afterwards each is stored exactly once."""
    asyncio.run(_create_streams(nats_cluster))
    rec = write_recording(tmp_path / "u0.txt", seed=1, minutes=4.0)
    for node in nats_cluster.nodes:
        node.stop()
    edge = tmp_path / "edge"
    c = _collect(spawn, nats_cluster, "collect", rec, edge, speed=30.0)
    wait_for(lambda: "collecting:" in c.stderr(), 240, "the collector to start")
    time.sleep(OUTAGE_S)
    assert c.popen.poll() is None, "the collector waits for the cluster"
    assert _pending(edge) > 200, "every notification of the recording is kept in the outbox"
    for node in nats_cluster.nodes:
        node.start()
    nats_cluster.wait_healthy()
    assert c.wait(timeout_s=180) == 0, c.stderr()[-2000:]
    stored = asyncio.run(_stored(nats_cluster, "u0"))
    (device, last), *_ = _last_seq(edge).items()
    assert sorted(s for d, s in stored if d == device) == list(range(1, last + 1))
    assert _pending(edge) == 0


@pytest.mark.slow
@pytest.mark.scenario
def test_collector_delivers_every_notification_once_after_a_10_minute_broker_outage(
    tmp_path: Path, nats_cluster: NatsCluster, spawn: Callable[..., Proc]
) -> None:
    """Mid-run, every node is stopped for 10 minutes while the strap goes on (replay at 2x); afterwards each
    notification of the whole run is stored exactly once and the outbox is empty."""
    asyncio.run(_create_streams(nats_cluster))
    rec = write_recording(tmp_path / "u0.txt", seed=5, minutes=26.0)
    edge = tmp_path / "edge"
    c = _collect(spawn, nats_cluster, "collect", rec, edge, speed=2.0)
    wait_for(lambda: "collecting:" in c.stderr(), 240, "the collector to start")
    wait_for(
        lambda: bool(_last_seq(edge)) and sum(_last_seq(edge).values()) > 60, 240, "a minute of the strap"
    )
    acked_before = sum(_last_seq(edge).values()) - _pending(edge)
    for node in nats_cluster.nodes:
        node.stop()
    down_at = time.monotonic()
    time.sleep(LONG_OUTAGE_S)
    assert c.popen.poll() is None, "the collector waits for the cluster"
    kept = _pending(edge)
    assert kept > 0.6 * 2.0 * LONG_OUTAGE_S, f"the outage's notifications are kept ({kept})"
    for node in nats_cluster.nodes:
        node.start()
    nats_cluster.wait_healthy()
    print(f"outage {time.monotonic() - down_at:.0f} s; {acked_before} acknowledged before, {kept} kept")
    assert c.wait(timeout_s=900) == 0, c.stderr()[-2000:]
    stored = asyncio.run(_stored(nats_cluster, "u0"))
    (device, last), *_ = _last_seq(edge).items()
    assert Counter(stored).most_common(1)[0][1] == 1, "nothing stored twice"
    assert sorted(s for d, s in stored if d == device) == list(range(1, last + 1)), "nothing lost"
    assert acked_before > 0 and _pending(edge) == 0


@pytest.mark.slow
def test_collector_killed_and_restarted_resends_only_what_was_not_acknowledged(
    tmp_path: Path, nats_cluster: NatsCluster, spawn: Callable[..., Proc]
) -> None:
    """kill -9 mid-run: the restart publishes exactly the outbox's leftovers, each stored once."""
    asyncio.run(_create_streams(nats_cluster))
    rec = write_recording(tmp_path / "u0.txt", seed=2, minutes=10.0)
    edge = tmp_path / "edge"
    first = _collect(spawn, nats_cluster, "collect-1", rec, edge, speed=40.0)
    wait_for(lambda: "collecting:" in first.stderr(), 240, "the collector to start")
    time.sleep(5.0)
    first.kill9()
    before = _last_seq(edge)
    left = _pending(edge)
    assert before and left < sum(before.values()), "some were acknowledged before the kill"
    again = write_recording(tmp_path / "u0-b.txt", seed=3, minutes=1.0)
    second = _collect(spawn, nats_cluster, "collect-2", again, edge, speed=40.0)
    assert second.wait(timeout_s=180) == 0, second.stderr()[-2000:]
    acked, dups = map(
        int, re.findall(r"collector: (\d+) acknowledged \((\d+) duplicates\)", second.stderr())[-1]
    )
    after = _last_seq(edge)
    new_events = sum(after.values()) - sum(before.values())
    assert acked == left + new_events, (
        "the restart sent the leftovers and its new events, nothing acknowledged"
    )
    assert dups <= left
    stored = asyncio.run(_stored(nats_cluster, "u0"))
    counts = Counter(stored)
    assert max(counts.values()) == 1, "nothing stored twice"
    for device, last in after.items():
        assert sorted(s for d, s in stored if d == device) == list(range(1, last + 1)), device


async def _edge_attempts(cl: NatsCluster) -> tuple[str, str, str, list[str]]:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        cl.servers.split(","),
        user=edge_user("u0"),
        password=edge_password("u0"),
        inbox_prefix=edge_inbox("u0"),
        error_cb=on_error,
    )
    js = nc.jetstream()
    own = await js.publish(sj.notify_subject("u0"), b"\x10", headers={sj.HDR_MSG_ID: "t:own"}, timeout=5)
    try:
        await js.publish(sj.notify_subject("u1"), b"\x10", headers={sj.HDR_MSG_ID: "t:other"}, timeout=3)
        other = "published"
    except (nats.errors.Error, TimeoutError) as exc:
        other = f"refused: {exc}"
    await nc.subscribe(f"{sj.RESULTS_PREFIX}.>")
    await nc.flush()
    await asyncio.sleep(1.0)
    try:
        await js.pull_subscribe(f"{sj.RESULTS_PREFIX}.>", stream=sj.RESULTS_STREAM)
        read = "consumer created"
    except (nats.errors.Error, TimeoutError) as exc:
        read = f"refused: {exc}"
    await asyncio.sleep(0.5)
    await nc.close()
    return f"{own.stream}", other, read, errors


@pytest.mark.slow
def test_edge_credentials_publish_only_their_own_user_and_read_no_results(nats_cluster: NatsCluster) -> None:
    """edge-u0 may publish u0's notifications; publishing as u1, subscribing to or consuming results fail."""
    asyncio.run(_create_streams(nats_cluster))
    own, other, read, errors = asyncio.run(_edge_attempts(nats_cluster))
    said = " | ".join(errors).lower()
    assert own == sj.NOTIFY_STREAM
    assert other.startswith("refused")
    assert 'permissions violation for publish to "calmstrap.p.' in said and ".u1" in said
    assert read.startswith("refused")
    assert 'permissions violation for subscription to "calmstrap.out.>"' in said
