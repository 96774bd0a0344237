"""Strap leases between collectors (cluster.straps) against a real three-node cluster, with edge credentials."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from cluster.connect import ensure_streams
from cluster.straps import Claim, Link, StrapLease, device_token, strap_key
from tests.support.nats import (
    SERVICE_PASSWORD,
    SERVICE_USER,
    NatsCluster,
    edge_inbox,
    edge_password,
    edge_user,
)

TTL_S = 2.0


def test_device_tokens_are_key_tokens_and_distinct() -> None:
    ids = ["AA:BB:CC:DD:EE:FF", "replay:u0.txt", "sim-strap", "Polar H10 8C4D2A2B", "ä", "a=3A", "a:"]
    toks = [device_token(d) for d in ids]
    assert len(set(toks)) == len(ids)
    for t in toks:
        assert t and all((c.isalnum() and c.isascii()) or c in "_-=" for c in t), t
    assert strap_key("u0", "replay:u0.txt") == "u0.replay=3Au0=2Etxt"


async def _edge(cl: NatsCluster, user: str, errors: list[str] | None = None) -> nats.NATS:
    async def on_error(exc: Exception) -> None:
        if errors is not None:
            errors.append(str(exc))

    return await nats.connect(
        cl.servers.split(","),
        user=edge_user(user),
        password=edge_password(user),
        inbox_prefix=edge_inbox(user),
        error_cb=on_error,
    )


async def _scenario(cl: NatsCluster) -> dict[str, object]:
    svc = await nats.connect(cl.servers.split(","), user=SERVICE_USER, password=SERVICE_PASSWORD)
    await ensure_streams(svc.jetstream(), replicas=3, strap_lease_ttl_s=TTL_S)
    await svc.close()
    a_nc, b_nc = await _edge(cl, "u0"), await _edge(cl, "u0")
    errors: list[str] = []
    other_nc = await _edge(cl, "u1", errors)
    a_link, b_link, other_link = Link(), Link(), Link()
    a_link.set(a_nc)
    b_link.set(b_nc)
    other_link.set(other_nc)
    a = StrapLease("u0", "AA:BB", "collector-a", a_link, TTL_S)
    b = StrapLease("u0", "AA:BB", "collector-b", b_link, TTL_S)
    out: dict[str, object] = {}
    out["a_first"] = await a.claim()
    out["b_while_a"] = await b.claim()
    out["a_renew"] = await a.claim()
    out["b_again"] = await b.claim()
    await a.release("test")
    out["b_after_release"] = await b.claim()
    out["a_while_b"] = await a.claim()
    # b stops renewing (as if killed): a takes it once the lease expired, within the TTL (plus the
    # server's expiry timer)
    t0 = time.monotonic()
    while await a.claim() is not Claim.HELD:
        await asyncio.sleep(0.1)
        if time.monotonic() - t0 > 4 * TTL_S:
            break
    out["a_takeover_s"] = time.monotonic() - t0
    out["b_renew_after"] = await b.claim()
    # a restarted collector with the same id (its outbox) takes its own lease back at once
    a2 = StrapLease("u0", "AA:BB", "collector-a", b_link, TTL_S)
    out["same_holder_again"] = await a2.claim()
    # u1's edge credentials cannot claim u0's strap (nor read it)
    thief = StrapLease("u0", "AA:BB", "collector-x", other_link, TTL_S)
    out["other_user"] = await thief.claim()
    out["other_errors"] = " | ".join(errors).lower()
    for nc in (a_nc, b_nc, other_nc):
        await nc.close()
    return out


@pytest.mark.slow
def test_one_holder_at_a_time_release_expiry_and_other_users(nats_cluster: NatsCluster) -> None:
    out = asyncio.run(_scenario(nats_cluster))
    print(f"expired strap lease taken after {out['a_takeover_s']:.2f} s (TTL {TTL_S:g} s)")
    assert out["a_first"] is Claim.HELD
    assert out["b_while_a"] is Claim.TAKEN
    assert out["a_renew"] is Claim.HELD
    assert out["b_again"] is Claim.TAKEN
    assert out["b_after_release"] is Claim.HELD, "a released lease is free at once"
    assert out["a_while_b"] is Claim.TAKEN
    took = out["a_takeover_s"]
    assert isinstance(took, float) and took <= TTL_S + 1.5, f"expired lease taken after {took:.1f} s"
    assert out["b_renew_after"] is Claim.TAKEN, "the old holder's renewal fails: it stops at once"
    assert out["same_holder_again"] is Claim.HELD
    assert out["other_user"] is Claim.UNREACHABLE, "refused by the server's permissions (no answer)"
    assert 'permissions violation for publish to "$kv.calmstrap_straps.u0.' in str(out["other_errors"])
