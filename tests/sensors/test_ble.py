"""The BLE collector's real code against a virtual strap (bumble peripheral on bumble's local link).

Time runs accelerated (:class:`ScaledClock`): strap seconds pass ``SCALE`` times faster than real ones,
so a 60 s outage takes a few real seconds. No Bluetooth hardware is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sensors.beats import Beat, BeatClock, Gap, GapReason
from sensors.ble import (
    Backoff,
    BleCollector,
    CollectorStats,
    NotificationInbox,
    StrapTarget,
    is_strap,
    known_model,
    scan,
)
from sensors.heart_rate import encode_measurement, parse_measurement
from sensors.pmd import start_acc_command
from sensors.source import (
    BatteryLevel,
    Connected,
    Disconnected,
    LowBattery,
    MotionIntensity,
    ScaledClock,
    SourceItem,
)
from tests.support.virtual_strap import HeartDriver, VirtualRadio, VirtualStrap

SCALE = 10.0


@dataclass
class Recorder:
    """Consumes a collector the way the pipeline does: bytes through the decoder and the beat clock."""

    clock: BeatClock = field(default_factory=lambda: BeatClock(device="strap", user="u"))
    items: list[SourceItem] = field(default_factory=list)
    beats: list[Beat] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def feed(self, item: SourceItem) -> None:
        self.items.append(item)
        if isinstance(item, tuple):
            beats, gap = self.clock.push(parse_measurement(item[1]), item[0])
            self.beats.extend(beats)
            if gap is not None:
                self.gaps.append(gap)
        elif isinstance(item, Disconnected):
            self.clock.mark_disconnect(item.t)

    def events(self, kind: type) -> list[SourceItem]:
        return [i for i in self.items if isinstance(i, kind)]


async def _world(
    clock: ScaledClock, *, strap_kwargs: dict[str, object] | None = None
) -> tuple[VirtualRadio, VirtualStrap]:
    radio = VirtualRadio(connect_timeout_s=0.4)
    await radio.start()
    strap = radio.strap(**(strap_kwargs or {}))
    await strap.start()
    return radio, strap


def _collector(radio: VirtualRadio, clock: ScaledClock, **kwargs: object) -> BleCollector:
    opts: dict[str, object] = {
        "clock": clock,
        "scan_timeout_s": 0.3,
        "stall_timeout_s": 15.0,
        "backoff": Backoff(base_s=1.0, cap_s=30.0),
        "rng": random.Random(7),
        "op_timeout_s": 2.0,
        "scanner_backend": radio.scanner_backend,
        "client_backend": radio.client_backend,
    }
    opts.update(kwargs)
    return BleCollector(StrapTarget(), **opts)  # type: ignore[arg-type]


async def _run(
    collector: BleCollector,
    rec: Recorder,
    script: Callable[[], Awaitable[None]],
) -> None:
    """Consume the collector while ``script`` runs; then close the stream (as a shutdown does)."""

    async def consume() -> None:
        async with contextlib.aclosing(collector.stream()) as stream:
            async for item in stream:
                rec.feed(item)

    task = asyncio.create_task(consume(), name="collector")
    driver = asyncio.create_task(script(), name="script")
    try:
        done, _ = await asyncio.wait({task, driver}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:  # the collector must never end by itself: surface why it did
            driver.cancel()
            task.result()
            raise AssertionError("the collector's stream ended")
        driver.result()
    finally:
        for t in (driver, task):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(t, timeout=5.0)


async def _until(clock: ScaledClock, cond: Callable[[], bool], limit_s: float = 600.0) -> None:
    """Wait (in clock time, bounded) until ``cond()`` holds; a busy CI machine only makes it slower."""
    waited = 0.0
    while not cond():
        assert waited < limit_s, "condition not reached in time"
        await clock.sleep(0.5)
        waited += 0.5


def _ticks(beats: list[Beat]) -> list[int]:
    return [round(b.rr_ms * 1024 / 1000) for b in beats]


def test_scan_lists_straps_with_name_address_and_rssi() -> None:
    """A scan lists the strap advertising 0x180D and a known strap by name only, not other devices."""

    async def main() -> list[tuple[str, str, int, bool]]:
        radio = VirtualRadio()
        await radio.start()
        for kw in (
            {"name": "Polar H10 0A1B2C3D", "address": "F1:00:00:00:00:01"},
            {"name": "TICKR 4F21", "address": "F1:00:00:00:00:02", "advertise_hr": False},
            {"name": "Kitchen scale", "address": "F1:00:00:00:00:03", "advertise_hr": False},
        ):
            await radio.strap(**kw).start()
        found = await scan(0.3, scanner_backend=radio.scanner_backend)
        return [(f.name, f.address, f.rssi_dbm, f.advertises_hr) for f in found]

    found = asyncio.run(main())
    assert sorted(found) == [
        ("Polar H10 0A1B2C3D", "F1:00:00:00:00:01", -50, True),
        ("TICKR 4F21", "F1:00:00:00:00:02", -50, False),
    ]


def test_known_strap_names_are_recognised() -> None:
    """Known strap names match; unrelated names do not, unless they advertise 0x180D."""
    assert known_model("Polar H10 8C4B2A19") == "Polar H10"
    assert known_model("HRM-Pro:123456") == "Garmin HRM-Pro"
    assert known_model("TICKR X 1A2B") == "Wahoo TICKR"
    assert known_model("Decathlon Dual HR") == "Decathlon"
    assert known_model("Polar H100") is None
    assert not is_strap("Kitchen scale", [])
    assert is_strap("Kitchen scale", ["0000180d-0000-1000-8000-00805f9b34fb"])


def test_notifications_become_beats() -> None:
    """Every RR the strap notifies becomes exactly one beat, in order, with no gap after the start."""
    clock = ScaledClock(SCALE)
    rec = Recorder()

    async def main() -> HeartDriver:
        radio, strap = await _world(clock)
        driver = HeartDriver(strap, clock, seed=1)
        heart = asyncio.create_task(driver.run())
        collector = _collector(radio, clock)

        async def script() -> None:
            await _until(clock, lambda: len(rec.beats) >= 10)

        await _run(collector, rec, script)
        heart.cancel()
        return driver

    driver = asyncio.run(main())
    assert len(rec.beats) >= 10
    assert _ticks(rec.beats) == driver.sent_rr[: len(rec.beats)]
    assert rec.gaps == []
    assert len(rec.events(Connected)) == 1


def test_link_drop_reconnects_and_records_a_gap() -> None:
    """The strap drops the link and advertises again: the collector reconnects and one gap is recorded."""
    clock = ScaledClock(SCALE)
    rec = Recorder()

    async def main() -> tuple[HeartDriver, BleCollector]:
        radio, strap = await _world(clock)
        driver = HeartDriver(strap, clock, seed=2)
        heart = asyncio.create_task(driver.run())
        collector = _collector(radio, clock)

        async def script() -> None:
            await _until(clock, lambda: len(rec.beats) >= 5)
            await strap.drop_link()
            await _until(clock, lambda: collector.stats.connects == 2)
            n = len(rec.beats)
            await _until(clock, lambda: len(rec.beats) >= n + 5)

        await _run(collector, rec, script)
        heart.cancel()
        return driver, collector

    driver, collector = asyncio.run(main())
    assert collector.stats.connects == 2
    assert len(rec.events(Disconnected)) == 1
    assert [g.reason for g in rec.gaps] == [GapReason.DISCONNECT]
    assert _ticks(rec.beats) == driver.sent_rr[: len(rec.beats)]


def test_sixty_second_outage_ends_reconnected_within_the_backoff_cap() -> None:
    """A 60 s outage: reconnected within the cap after the strap is back, one gap, no beat duplicated or lost."""
    clock = ScaledClock(SCALE)
    rec = Recorder()
    cap_s = 30.0
    marks: dict[str, float] = {}

    async def main() -> tuple[HeartDriver, BleCollector]:
        radio, strap = await _world(clock)
        driver = HeartDriver(strap, clock, seed=3)
        heart = asyncio.create_task(driver.run())
        collector = _collector(radio, clock, backoff=Backoff(base_s=1.0, cap_s=cap_s))

        async def script() -> None:
            await _until(clock, lambda: len(rec.beats) >= 8)
            marks["away"] = clock.now()
            await strap.go_away()
            await clock.sleep(60.0)
            marks["back"] = clock.now()
            await strap.come_back()
            await _until(clock, lambda: len(rec.events(Connected)) == 2)
            n = len(rec.beats)
            await _until(clock, lambda: len(rec.beats) >= n + 5)

        await _run(collector, rec, script)
        heart.cancel()
        return driver, collector

    driver, collector = asyncio.run(main())
    connected = rec.events(Connected)
    assert len(connected) == 2
    reconnect_t = connected[1].t  # type: ignore[union-attr]
    slack_s = 1.0 * SCALE  # one real second for scan + connect on a loaded CI machine, in clock seconds
    assert reconnect_t - marks["back"] <= cap_s + slack_s
    assert max(collector.stats.delays_s) <= cap_s
    assert len(rec.gaps) == 1 and rec.gaps[0].reason is GapReason.DISCONNECT
    gap = rec.gaps[0]
    assert gap.start_t <= marks["away"] + 1.0 and gap.end_t >= marks["back"] - 1.0
    # beats before the gap are the strap's from the start; after it a contiguous run of the strap's
    # beats: nothing duplicated, nothing lost outside the gap (at most the one notification in flight
    # when the link went down is missing at the gap)
    ticks = _ticks(rec.beats)
    before = [t for b, t in zip(rec.beats, ticks, strict=True) if b.t <= gap.start_t]
    after = ticks[len(before) :]
    sent = driver.sent_rr
    assert before == sent[: len(before)]
    assert len(after) >= 5
    j = next(i for i in range(len(before), len(sent)) if sent[i : i + len(after)] == after)
    assert j - len(before) <= 9
    times = [b.t for b in rec.beats]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_strap_never_comes_back_backoff_bounded_and_clean_shutdown() -> None:
    """The strap vanishes for good: delays grow to the cap and stay there, and closing the stream is clean."""
    clock = ScaledClock(40.0)
    rec = Recorder()
    cap_s = 20.0

    async def main() -> tuple[BleCollector, VirtualRadio, set[asyncio.Task[object]]]:
        radio, strap = await _world(clock)
        collector = _collector(radio, clock, backoff=Backoff(base_s=1.0, cap_s=cap_s), scan_timeout_s=0.1)

        async def script() -> None:
            await _until(clock, lambda: collector.connected)
            await strap.go_away()
            await _until(clock, lambda: len(collector.stats.delays_s) >= 7, limit_s=3000.0)

        before = set(asyncio.all_tasks())
        await _run(collector, rec, script)
        await asyncio.sleep(0.05)
        leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
        leftover.discard(asyncio.current_task())  # type: ignore[arg-type]
        return collector, radio, leftover  # type: ignore[return-value]

    collector, radio, leftover = asyncio.run(main())
    delays = collector.stats.delays_s
    assert len(delays) >= 5
    assert max(delays) <= cap_s
    assert max(delays[-3:]) >= cap_s / 2  # grown to the cap's range
    assert collector.connected is False
    assert not radio.central.connections
    assert not [t for t in leftover if (t.get_name() or "").startswith("ble-watchdog")]


def test_malformed_notification_is_counted_and_skipped() -> None:
    """A notification that does not fit its flags is counted, never yielded, and the next one still is."""
    clock = ScaledClock(SCALE)
    rec = Recorder()

    async def main() -> BleCollector:
        radio, strap = await _world(clock)
        collector = _collector(radio, clock)

        async def script() -> None:
            await _until(clock, lambda: strap.subscribed(strap.hrm))
            await strap.notify(encode_measurement(70, [800]))
            await strap.notify(b"\x10\x46\x00\x03\x04")  # RR flag with an odd number of RR bytes
            await strap.notify(b"\x01\x46")  # uint16 heart rate flag, one byte
            await strap.notify(encode_measurement(71, [810]))
            await _until(clock, lambda: len(rec.events(tuple)) >= 2)

        await _run(collector, rec, script)
        return collector

    collector = asyncio.run(main())
    assert collector.stats.malformed == 2
    assert collector.stats.notifications == 4
    assert [d for _, d in rec.events(tuple)] == [encode_measurement(70, [800]), encode_measurement(71, [810])]  # type: ignore[misc]


def test_low_battery_is_reported_once_per_level() -> None:
    """Battery notifications at 30, 24, 20, 9, 8 %, recharge to 80 %, then 22 %: 25 %, 10 %, 25 % again."""
    clock = ScaledClock(SCALE)
    rec = Recorder()

    async def main() -> None:
        radio, strap = await _world(clock, strap_kwargs={"battery_pct": 90})
        collector = _collector(radio, clock)

        async def script() -> None:
            await _until(clock, lambda: strap.subscribed(strap.battery))
            for pct in (30, 24, 20, 9, 8, 80, 22):
                await strap.set_battery(pct)
                await clock.sleep(0.5)
            await _until(clock, lambda: len(rec.events(BatteryLevel)) >= 8)  # the first read + 7

        await _run(collector, rec, script)

    asyncio.run(main())
    lows = [(e.level_pct, e.battery_pct) for e in rec.events(LowBattery)]  # type: ignore[union-attr]
    assert lows == [(25, 24), (10, 9), (25, 22)]


def test_random_payloads_through_the_notification_path() -> None:
    """100,000 random payloads through the registered callback: no crash, each counted, only valid ones queued."""
    rng = random.Random(2024)
    stats = CollectorStats()

    async def main() -> int:
        inbox = NotificationInbox(stats, ScaledClock(1.0), maxsize=0)
        valid = 0
        for _ in range(100_000):
            n = rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 20, 40))
            data = bytearray(rng.getrandbits(8) for _ in range(n))
            inbox.on_heart_rate(None, data)
            with contextlib.suppress(ValueError):
                parse_measurement(bytes(data))
                valid += 1
        queued = 0
        while not inbox.queue.empty():
            item = inbox.queue.get_nowait()
            assert isinstance(item, tuple)
            parse_measurement(item[1])
            queued += 1
        assert queued == valid
        return valid

    valid = asyncio.run(main())
    assert stats.notifications == 100_000
    assert stats.malformed + stats.queued == 100_000
    assert stats.queued == valid
    assert 0 < stats.malformed < 100_000


def test_backoff_is_jittered_exponential_and_capped() -> None:
    """Delays double per attempt within [d/2, d] and never exceed the cap."""
    b = Backoff(base_s=1.0, factor=2.0, cap_s=30.0)
    rng = random.Random(1)
    for attempt in range(200):
        d = min(30.0, 2.0**attempt)
        x = b.delay_s(attempt, rng)
        assert d / 2 <= x <= d
    assert len({round(b.delay_s(10, rng), 6) for _ in range(20)}) > 1


def _acc_frame(ts_ns: int, samples: list[tuple[int, int, int]]) -> bytes:
    body = b"".join(v.to_bytes(2, "little", signed=True) for s in samples for v in s)
    return bytes([0x02]) + ts_ns.to_bytes(8, "little") + bytes([0x01]) + body


def test_motion_streams_from_a_strap_with_pmd_and_heart_rate_is_unaffected() -> None:
    """With motion on, a PMD strap's accelerometer becomes motion per second; beats still flow."""
    clock = ScaledClock(SCALE)
    rec = Recorder()

    async def main() -> tuple[VirtualStrap, BleCollector, HeartDriver]:
        radio, strap = await _world(clock, strap_kwargs={"pmd": True})
        driver = HeartDriver(strap, clock, seed=5)
        heart = asyncio.create_task(driver.run())
        collector = _collector(radio, clock, motion=True, motion_rate_hz=25)

        async def script() -> None:
            await _until(clock, lambda: strap.pmd_streaming and strap.subscribed(strap.pmd_data))
            for k in range(12):
                await clock.sleep(1.0)
                moving = k >= 7
                samples = [((800 if (moving and i % 2) else -9), -1, 999) for i in range(25)]
                await strap.send_pmd(_acc_frame(k * 1_000_000_000, samples))
            await _until(clock, lambda: len(rec.events(MotionIntensity)) >= 10)
            await _until(clock, lambda: len(rec.beats) >= 8)

        await _run(collector, rec, script)
        heart.cancel()
        return strap, collector, driver

    strap, collector, driver = asyncio.run(main())
    assert strap.pmd_history == [start_acc_command(25)]
    motion = [m.intensity_mg for m in rec.events(MotionIntensity)]  # type: ignore[union-attr]
    assert len(motion) >= 5
    assert min(motion) < 10.0 and max(motion) > 50.0
    assert collector.stats.pmd_malformed == 0
    assert _ticks(rec.beats) == driver.sent_rr[: len(rec.beats)] and len(rec.beats) >= 8


def test_motion_option_is_harmless_for_straps_without_pmd() -> None:
    """With motion on and no PMD service, the collector streams heart rate as usual."""
    clock = ScaledClock(SCALE)
    rec = Recorder()

    async def main() -> HeartDriver:
        radio, strap = await _world(clock)
        driver = HeartDriver(strap, clock, seed=6)
        heart = asyncio.create_task(driver.run())
        collector = _collector(radio, clock, motion=True)

        async def script() -> None:
            await _until(clock, lambda: len(rec.beats) >= 5)

        await _run(collector, rec, script)
        heart.cancel()
        return driver

    driver = asyncio.run(main())
    assert len(rec.beats) >= 5 and rec.gaps == []
    assert _ticks(rec.beats) == driver.sent_rr[: len(rec.beats)]
