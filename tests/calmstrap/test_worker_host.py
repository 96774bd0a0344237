"""The worker's session host: the session code of run, restorable at any message, events put back in order."""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

import pytest

from calmstrap.config import Config, load_config
from calmstrap.worker_host import SeqWindow, SessionHost
from cluster.subjects import EventKind
from cluster.worker import Inbound
from processing import snapshot
from sensors.replay import ReplaySource, read_rr_file
from tests.cluster.conftest import NO_QUIET_HOURS, write_recording

START = 1_796_117_255.0


def _events(tmp_path: Path, minutes: float = 12.0) -> list[Inbound]:
    rec = write_recording(tmp_path / "u.txt", seed=10, minutes=minutes)

    async def notes() -> list[tuple[float, bytes]]:
        src = ReplaySource(read_rr_file(rec), speed=1e9, start_t=START)
        return [item async for item in src.stream() if isinstance(item, tuple)]

    evs = [
        Inbound(i + 1, "u10", "replay:u.txt", "ep", i + 1, EventKind.NOTIFY, t, d)
        for i, (t, d) in enumerate(asyncio.run(notes()))
    ]
    return evs


def _config() -> Config:
    return load_config(None, env=NO_QUIET_HOURS)


def _run(evs: list[Inbound], cuts: set[int]) -> list[tuple[str, str]]:
    async def go() -> list[tuple[str, str]]:
        host = SessionHost(_config())
        host.restore("u10", None)
        out: list[tuple[str, str]] = []
        for ev in evs:
            if ev.stream_seq in cuts:
                data = host.dump("u10")
                host = SessionHost(_config())
                host.restore("u10", data)
            out += [
                (o.subject, o.msg_id + repr(snapshot.load(o.payload, kind="calmstrap.archive-op")))
                for o in await host.handle(ev)
            ]
        return out

    return asyncio.run(go())


def test_a_host_restored_at_any_message_gives_the_same_outputs_and_ids(tmp_path: Path) -> None:
    """Dump and restore the user's state at five points: every output (subject, id, content) is the same."""
    evs = _events(tmp_path)
    whole = _run(evs, set())
    cut = _run(evs, {40, 199, 333, 512, 650})
    assert any(".prompt" in s for s, _ in whole), "the recording must prompt"
    assert cut == whole


def test_events_out_of_device_order_are_processed_in_order(tmp_path: Path) -> None:
    """Swapping two notifications in the stream changes nothing: the host waits for the missing one."""
    evs = _events(tmp_path, minutes=3.0)
    swapped = list(evs)
    swapped[100], swapped[101] = swapped[101], swapped[100]
    assert _run(swapped, set()) == _run(evs, set())


def test_a_resend_is_ignored(tmp_path: Path) -> None:
    """The same device sequence number twice (a resend past the duplicate window) gives no output."""
    evs = _events(tmp_path, minutes=3.0)
    twice = [*evs[:50], evs[49], *evs[50:]]
    assert _run(twice, set()) == _run(evs, set())


def test_seq_window_gives_up_a_hole_that_never_fills() -> None:
    """After max_held waiting events the window releases them in order (and logs it)."""
    w = SeqWindow(max_held=3)
    ev = [Inbound(i, "u", "d", "e", i, EventKind.NOTIFY, float(i), b"") for i in range(1, 7)]
    assert [e.dev_seq for e in w.offer(ev[0])] == [1]
    assert w.offer(ev[2]) == [] and w.offer(ev[3]) == [] and w.offer(ev[4]) == []
    assert [e.dev_seq for e in w.offer(ev[5])] == [3, 4, 5, 6]
    assert w.offer(ev[1]) == [], "the given-up event, arriving late, is a resend now"


@pytest.mark.parametrize("kind", [EventKind.DISCONNECTED, EventKind.END])
def test_link_events_reach_the_session(tmp_path: Path, kind: EventKind) -> None:
    """A disconnect becomes a status row; the end closes the session (its baseline is saved)."""
    evs = _events(tmp_path, minutes=2.0)
    last = evs[-1]
    extra = Inbound(
        last.stream_seq + 1, "u10", last.device, "ep", last.dev_seq + 1, kind, last.arrival_t + 1, b""
    )
    out = _run([*evs, extra], set())
    tail = [s for s, _ in out if s.endswith(".status") or s.endswith(".baseline")]
    assert tail, "a status or baseline output"


def test_a_state_saved_before_the_host_had_its_own_module_loads(tmp_path: Path) -> None:
    """A user state whose classes are named in calmstrap.cmd_cluster (before worker_host) restores alike."""
    evs = _events(tmp_path, minutes=3.0)

    async def go() -> tuple[bytes, bytes]:
        host = SessionHost(_config())
        host.restore("u10", None)
        for ev in evs:
            await host.handle(ev)
        data = host.dump("u10")
        old = snapshot.MAGIC + zlib.compress(
            zlib.decompress(data[len(snapshot.MAGIC) :]).replace(
                b'"calmstrap.worker_host:', b'"calmstrap.cmd_cluster:'
            )
        )
        assert old != data, "the state must name the host's classes"
        again = SessionHost(_config())
        again.restore("u10", old)
        return data, again.dump("u10")

    data, restored = asyncio.run(go())
    assert restored == data
