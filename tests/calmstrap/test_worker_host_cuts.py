"""A worker's user state dumped and restored at EVERY event gives the outputs (ids and values) an
uninterrupted host gives, on a recording with silences, reconnections (with a re-sent notification),
notifications without RR, motion and battery events and events out of device order."""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

from calmstrap.worker_host import SessionHost
from cluster.ops import UPDATES
from cluster.subjects import EventKind
from cluster.worker import Inbound, Outbound
from processing import snapshot
from sensors.heart_rate import encode_measurement, parse_measurement
from sensors.replay import ReplaySource, read_rr_file
from tests.calmstrap.test_worker_host import START, _config
from tests.cluster.conftest import write_recording

HORIZON = 40
"""Events compared after each cut (a state that is wrong shows in the beats or windows within this)."""


def _perturbed(tmp_path: Path, seed: int, minutes: float) -> list[Inbound]:
    rec = write_recording(tmp_path / "u.txt", seed=seed, minutes=minutes)

    async def notes() -> list[tuple[float, bytes]]:
        src = ReplaySource(read_rr_file(rec), speed=1e9, start_t=START)
        return [item async for item in src.stream() if isinstance(item, tuple)]

    rng = random.Random(seed)
    items: list[tuple[EventKind, float, bytes]] = []
    shift = 0.0
    for i, (t, d) in enumerate(asyncio.run(notes())):
        r = rng.random()
        if i > 20 and r < 0.03:  # a reconnection; half of them re-send the last notification
            items.append((EventKind.DISCONNECTED, t + shift - 0.5, b""))
            items.append((EventKind.CONNECTED, t + shift + 0.2, b""))
            if rng.random() < 0.5:
                last = next(x for x in reversed(items) if x[0] == EventKind.NOTIFY)
                items.append((EventKind.NOTIFY, t + shift + 0.3, last[2]))
        elif i > 20 and r < 0.05:
            shift += rng.choice([2.0, 4.0, 10.0])  # a silence (above the clock's 3 s re-anchors)
        elif i > 20 and r < 0.07:
            items.append((EventKind.NOTIFY, t + shift - 0.4, encode_measurement(70, [], contact=None)))
        elif i > 20 and r < 0.08:
            items.append((EventKind.MOTION, t + shift - 0.2, repr(rng.uniform(0.0, 500.0)).encode()))
        elif i > 20 and r < 0.09:
            items.append((EventKind.BATTERY, t + shift - 0.2, b"80"))
        items.append((EventKind.NOTIFY, t + shift, d))
    evs = [Inbound(0, "u10", "replay:u.txt", "ep", i + 1, k, t, d) for i, (k, t, d) in enumerate(items)]
    for i in range(30, len(evs) - 2):  # the stream holds some of the device's events out of order
        if rng.random() < 0.03:
            evs[i], evs[i + 1] = evs[i + 1], evs[i]
    return [
        Inbound(i + 1, e.user, e.device, e.epoch, e.dev_seq, e.kind, e.arrival_t, e.data)
        for i, e in enumerate(evs)
    ]


def _shown(out: list[Outbound]) -> list[tuple[str, str, str]]:
    return [(o.subject, o.msg_id, repr(snapshot.load(o.payload, kind="calmstrap.archive-op"))) for o in out]


def test_a_state_restored_at_every_event_continues_exactly(tmp_path: Path) -> None:
    evs = _perturbed(tmp_path, seed=10, minutes=5.0)
    kinds = {e.kind for e in evs}
    assert {EventKind.DISCONNECTED, EventKind.CONNECTED, EventKind.MOTION, EventKind.BATTERY} <= kinds
    notes = [parse_measurement(e.data) for e in evs if e.kind == EventKind.NOTIFY]
    assert any(not m.rr_raw for m in notes) and any(len(m.rr_raw) > 1 for m in notes)
    assert any(b.dev_seq < a.dev_seq for a, b in itertools.pairwise(evs)), "some out of order"

    async def go() -> list[tuple[int, int]]:
        whole = SessionHost(_config())
        whole.restore("u10", None)
        states: list[bytes] = []
        outs: list[list[tuple[str, str, str]]] = []
        for ev in evs:
            states.append(whole.dump("u10"))
            outs.append(_shown(await whole.handle(ev)))
        assert any(".gap" in s for o in outs for s, _, _ in o), "the recording must have gaps"
        differing: list[tuple[int, int]] = []
        for k in range(len(evs)):
            host = SessionHost(_config())
            host.restore("u10", states[k])
            for j in range(k, min(len(evs), k + HORIZON)):
                if _shown(await host.handle(evs[j])) != outs[j]:
                    differing.append((k, j))
                    break
        return differing

    assert asyncio.run(go()) == [], "(cut, first differing event)"


def test_updates_wait_for_the_rows_they_change(tmp_path: Path) -> None:
    """The host marks exactly the updating writes (beats flagged, outcomes) to be published after all
    before them (cluster.delivery.publish_all)."""

    evs = _perturbed(tmp_path, seed=10, minutes=12.0)

    async def go() -> list[tuple[str, bool]]:
        host = SessionHost(_config())
        host.restore("u10", None)
        out: list[tuple[str, bool]] = []
        for ev in evs:
            for o in await host.handle(ev):
                out.append((snapshot.load(o.payload, kind="calmstrap.archive-op").name, o.after_all))
        return out

    out = asyncio.run(go())
    assert {name for name, _ in out} & UPDATES, "the recording must flag beats or measure an outcome"
    assert all(after_all == (name in UPDATES) for name, after_all in out)
