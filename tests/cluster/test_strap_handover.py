"""Two real ``calmstrap collect`` processes hear the same strap (replays of one recording, same device id):
only one records and publishes at a time, the other takes the strap over within the lease TTL when the holder
is killed (``kill -9``) or paused (``SIGSTOP``, as a strap out of its range), and the archive has every beat
once: a single run's beats with one stretch missing, no longer than the take-over, and none twice."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from calmstrap import cli
from cluster import subjects as sj
from tests.cluster.conftest import NO_QUIET_HOURS, Proc, stored_headers, wait_for, write_recording
from tests.support.nats import NatsCluster

TTL_S = 3.0
SPEED = 10.0
MINUTES = 8.0
RETRY_S = TTL_S / 8
TAKEOVER_SLACK_S = 2.0
"""Process scheduling on a loaded 2-core machine, on top of the TTL and one claim retry."""


def _stamp(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _first_stamp(text: str, pattern: str) -> float:
    for line in text.splitlines():
        if re.search(pattern, line):
            return _stamp(line)
    raise AssertionError(f"no log line matches {pattern!r}")


async def _epochs(cl: NatsCluster, user: str) -> list[tuple[str, str]]:
    """(outbox epoch, event kind) of every collector message stored for ``user``, in stream order."""
    return [(h[sj.HDR_EPOCH], h[sj.HDR_EVENT]) for h in await stored_headers(cl, user)]


def _beats(db: Path, user: str) -> list[tuple[float, float]]:
    con = sqlite3.connect(db)
    try:
        return [
            (float(t), float(rr))
            for t, rr in con.execute("SELECT t, rr_ms FROM beats WHERE user = ? ORDER BY t", (user,))
        ]
    finally:
        con.close()


def _reference(tmp_path: Path, rec: Path, start: float, monkeypatch: pytest.MonkeyPatch) -> Path:
    ref = tmp_path / "reference"
    for k, v in NO_QUIET_HOURS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CALMSTRAP_GENERAL__USER", "u0")
    args = [
        "run",
        "--source",
        f"replay:{rec}",
        "--speed",
        "5000",
        "--start",
        repr(start),
        "--data-dir",
        str(ref),
    ]
    assert cli.main(args) == 0
    return ref / "archive.db"


def _stable(db: Path, seconds: float) -> Callable[[], bool]:
    seen: list[tuple[float, int]] = []

    def check() -> bool:
        n = len(_beats(db, "u0")) if db.exists() else 0
        now = time.monotonic()
        if not seen or seen[-1][1] != n:
            seen.append((now, n))
            return False
        return n > 0 and now - seen[-1][0] >= seconds

    return check


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill9", "pause"])
def test_a_strap_heard_by_two_collectors_is_recorded_by_one_and_moves_when_the_holder_stops(
    how: str,
    tmp_path: Path,
    nats_cluster: NatsCluster,
    spawn: Callable[..., Proc],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recs = []
    for room in ("a", "b"):  # the same file name: the same device id, replay:u0.txt
        (tmp_path / room).mkdir()
        recs.append(write_recording(tmp_path / room / "u0.txt", seed=4, minutes=MINUTES))
    ttl = {"CALMSTRAP_NATS__STRAP_LEASE_TTL_S": str(TTL_S)}
    service = nats_cluster.service_env() | ttl | {"CALMSTRAP_NATS__CHECKPOINT_EVERY_S": "1"}
    worker = spawn("worker", "worker", env=service)
    archive_dir = tmp_path / "clinic"
    spawn("archiver", "archive", "--data-dir", str(archive_dir), "--no-deliver", env=service)
    wait_for(lambda: "took partition" in worker.stderr(), 300, "the worker to take partitions")
    start = float(int(time.time()))

    def collect(room: str, rec: Path) -> Proc:
        return spawn(
            f"collect-{room}",
            "collect",
            *("--source", f"replay:{rec}", "--speed", str(SPEED), "--start", repr(start)),
            *("--data-dir", str(tmp_path / f"edge-{room}")),
            env=nats_cluster.edge_env("u0") | ttl | {"CALMSTRAP_GENERAL__USER": "u0"},
        )

    a = collect("a", recs[0])
    wait_for(lambda: "lease taken, recording" in a.stderr(), 240, "collector a to hold the strap")
    b = collect("b", recs[1])
    wait_for(lambda: "another collector holds it" in b.stderr(), 240, "collector b to find the strap held")
    time.sleep(5.0)
    assert "lease taken" not in b.stderr(), "b waits while a holds the strap"
    stopped_at = time.time()
    if how == "kill9":
        a.kill9()
    else:
        a.popen.send_signal(signal.SIGSTOP)
    wait_for(lambda: "lease taken, recording" in b.stderr(), 30, "collector b to take the strap over")
    takeover_s = _first_stamp(b.stderr(), "lease taken, recording") - stopped_at
    if how == "pause":
        time.sleep(2.0)
        a.popen.send_signal(signal.SIGCONT)  # a hears the strap again: its renewal finds b, it stays quiet
    assert b.wait(timeout_s=300) == 0, b.stderr()[-2000:]
    if how == "pause":
        assert a.wait(timeout_s=300) == 0, a.stderr()[-2000:]
    db = archive_dir / "archive.db"
    wait_for(_stable(db, 8.0), 300, "the archive to catch up")

    print(f"{how}: strap taken over after {takeover_s:.2f} s (lease TTL {TTL_S:g} s)")
    assert 0 < takeover_s <= TTL_S + RETRY_S + TAKEOVER_SLACK_S

    epochs = asyncio.run(_epochs(nats_cluster, "u0"))
    order = [e for i, (e, _k) in enumerate(epochs) if i == 0 or epochs[i - 1][0] != e]
    assert len(order) == 2, f"one collector, then the other, never interleaved: {order}"
    assert sum(1 for _e, k in epochs if k == "notify" and _e == order[1]) > 50

    got = _beats(db, "u0")
    want = _beats(_reference(tmp_path, recs[1], start, monkeypatch), "u0")
    ts = [t for t, _ in got]
    assert all(b > a for a, b in itertools.pairwise(ts)), "no beat twice, in order"
    rr_got, rr_want = [r for _, r in got], [r for _, r in want]
    head = next((i for i, (x, y) in enumerate(zip(rr_got, rr_want, strict=False)) if x != y), len(rr_got))
    tail = next(
        (i for i, (x, y) in enumerate(zip(reversed(rr_got), reversed(rr_want), strict=False)) if x != y),
        len(rr_got),
    )
    assert head + tail >= len(rr_got), "the archive is the single run's beats with one stretch cut out"
    missing = rr_want[head : len(rr_want) - tail] if head + tail < len(rr_want) else []
    hole_s = sum(missing) / 1000.0
    print(f"{how}: {len(got)} of {len(want)} beats archived; the hole: {len(missing)} beats, {hole_s:.1f} s")
    assert head > 30 and tail > 100, "both collectors' beats are in"
    assert hole_s <= (TTL_S + RETRY_S + TAKEOVER_SLACK_S) * SPEED, "no gap longer than the take-over"
