"""A clean worker stop (SIGTERM) hands its partitions back: a survivor takes them without waiting for leases
to expire."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.cluster.conftest import Proc, wait_for
from tests.support.nats import NatsCluster

LEASE_TTL_S = 120.0  # far longer than the test waits: a partition can only move by being handed back


def _held(proc: Proc) -> set[int]:
    """The partitions a worker holds, from its log (taken, minus handed back or dropped)."""
    held: set[int] = set()
    for line in proc.stderr().splitlines():
        if m := re.search(r"took partition (\d+)", line):
            held.add(int(m.group(1)))
        elif m := re.search(r"handed back partition (\d+)|partition (\d+): lease renewal failed", line):
            held.discard(int(m.group(1) or m.group(2)))
    return held


@pytest.mark.slow
def test_a_clean_stop_hands_every_partition_to_the_survivor(
    nats_cluster: NatsCluster, spawn: Callable[..., Proc]
) -> None:
    """SIGTERM: the stopped worker hands back all it held, and the survivor then holds every partition."""
    env = nats_cluster.service_env() | {"CALMSTRAP_NATS__LEASE_TTL_S": str(LEASE_TTL_S)}
    first = spawn("worker-a", "worker", env=env)
    second = spawn("worker-b", "worker", env=env)
    every = set(range(nats_cluster.partitions))
    wait_for(
        lambda: bool(_held(first)) and bool(_held(second)) and _held(first) | _held(second) == every,
        240,
        "both workers sharing every partition",
    )
    given = _held(first)
    assert first.stop(timeout_s=60) == 0, first.stderr()[-2000:]
    assert _held(first) == set(), "every partition it held is handed back"
    wait_for(
        lambda: _held(second) == every, LEASE_TTL_S / 2, "the survivor to take the handed-back partitions"
    )
    assert given <= _held(second)
