"""The BLE strap collector (bleak + bleak-retry-connector): scan, connect, subscribe, survive disconnects.

* :func:`scan` lists straps: devices advertising the Heart Rate Service (0x180D) and devices whose name
  matches a known strap (:data:`KNOWN_STRAPS`), for straps that do not advertise the UUID.
* :class:`BleCollector` is a beat source (``stream()``): it finds its strap by a scan, connects with
  bleak-retry-connector, subscribes to Heart Rate Measurement (0x2A37), reads Body Sensor Location
  (0x2A38) and Battery Level (0x2A19, subscribing where it notifies) and yields the raw notification bytes
  with their arrival time. A supervisor loop reconnects after every disconnect with jittered exponential
  backoff (capped, default 30 s), forever until the consumer stops; when reconnecting to the known device
  fails it rescans. Every disconnect is yielded as :class:`~sensors.source.Disconnected`, so the beat
  clock records an explicit gap. Low battery (25 %, 10 %) is reported once per level until recharged.
* Notification callbacks only stamp, count and queue; the queue is drained by ``stream()`` and every
  subscription is undone in ``finally``. Malformed notifications are counted and skipped here (the bytes
  never reach the beat clock); their content is never logged above DEBUG.

bleak backends can be replaced (``scanner_backend`` / ``client_backend``): the tests run this exact code
against a virtual strap (a bumble GATT peripheral) through a small bleak backend over bumble.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from sensors.errors import SensorError
from sensors.heart_rate import (
    BATTERY_LEVEL_UUID,
    BODY_SENSOR_LOCATION_UUID,
    HEART_RATE_MEASUREMENT_UUID,
    HEART_RATE_SERVICE_UUID,
    MalformedMeasurement,
    parse_measurement,
)
from sensors.pmd import (
    PMD_CONTROL_UUID,
    PMD_DATA_UUID,
    MotionMeter,
    PmdFormatError,
    decode_acc_frame,
    start_acc_command,
)
from sensors.source import (
    BatteryLevel,
    Clock,
    Connected,
    Disconnected,
    LowBattery,
    SourceItem,
    StrapEvent,
    SystemClock,
)

log = logging.getLogger("calmstrap.sensors.ble")

BATTERY_SERVICE_UUID: Final = "0000180f-0000-1000-8000-00805f9b34fb"
PMD_SERVICE_UUID: Final = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
LOW_BATTERY_LEVELS_PCT: Final = (25, 10)
RECHARGED_PCT: Final = 50
"""Above this the low-battery levels are armed again (the strap was recharged or its battery changed)."""

# Errors that mean "this attempt failed, try again later" (never "give up").
CONNECT_ERRORS: Final = (BleakError, TimeoutError, OSError, EOFError, AttributeError)


@dataclass(frozen=True, slots=True)
class KnownStrap:
    """A strap model recognised by its advertised name (some do not advertise 0x180D)."""

    model: str
    pattern: str
    """Case-insensitive regular expression matched against the start of the advertised name."""


KNOWN_STRAPS: Final[tuple[KnownStrap, ...]] = (
    KnownStrap("Polar H10", r"polar h10\b"),
    KnownStrap("Polar H9", r"polar h9\b"),
    KnownStrap("Polar H7", r"polar h7\b"),
    KnownStrap("Polar Verity Sense", r"polar sense\b"),
    KnownStrap("Garmin HRM-Pro", r"hrm[- ]?pro"),
    KnownStrap("Garmin HRM-Dual", r"hrm[- ]?dual"),
    KnownStrap("Garmin HRM-Fit", r"hrm[- ]?fit"),
    KnownStrap("Garmin HRM-Run", r"hrm[- ]?run"),
    KnownStrap("Garmin HRM-Tri", r"hrm[- ]?tri"),
    KnownStrap("Garmin HRM 200", r"hrm ?200"),
    KnownStrap("Wahoo TICKR", r"tickr"),
    KnownStrap("Decathlon", r"(decathlon|kalenji|dual hr|hrm belt)"),
    KnownStrap("Coospo", r"(coospo|h6m|h808s)"),
    KnownStrap("Suunto Smart Sensor", r"suunto smart sensor"),
)


def known_model(name: str | None) -> str | None:
    """The strap model a device name belongs to, or None."""
    if not name:
        return None
    for k in KNOWN_STRAPS:
        if re.match(k.pattern, name.strip(), flags=re.IGNORECASE):
            return k.model
    return None


def _uuid_in(uuid: str, uuids: Sequence[str]) -> bool:
    return uuid in (u.lower() for u in uuids)


@dataclass(frozen=True, slots=True)
class FoundStrap:
    """One strap seen by a scan."""

    address: str
    name: str
    rssi_dbm: int
    advertises_hr: bool
    model: str | None


def is_strap(name: str | None, service_uuids: Sequence[str]) -> bool:
    """A device is a strap when it advertises 0x180D or its name matches a known strap."""
    return _uuid_in(HEART_RATE_SERVICE_UUID, service_uuids) or known_model(name) is not None


def _found(device: BLEDevice, adv: AdvertisementData) -> FoundStrap:
    name = adv.local_name or device.name or ""
    return FoundStrap(
        address=device.address,
        name=name,
        rssi_dbm=adv.rssi,
        advertises_hr=_uuid_in(HEART_RATE_SERVICE_UUID, adv.service_uuids),
        model=known_model(name),
    )


async def scan(
    timeout_s: float = 5.0, *, scanner_backend: type[BaseBleakScanner] | None = None
) -> list[FoundStrap]:
    """Scan for ``timeout_s`` and list the straps seen, strongest signal first."""
    if scanner_backend is None:
        seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True)
    else:
        seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True, backend=scanner_backend)
    out = [_found(d, a) for d, a in seen.values() if is_strap(a.local_name or d.name, a.service_uuids)]
    return sorted(out, key=lambda f: (-f.rssi_dbm, f.address))


@dataclass(frozen=True, slots=True)
class StrapTarget:
    """Which strap to use: by address, by name (prefix, case-insensitive), or (both empty) any strap."""

    address: str = ""
    name: str = ""

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        name = adv.local_name or device.name or ""
        if self.address:
            return device.address.lower() == self.address.lower()
        if self.name:
            return name.lower().startswith(self.name.lower())
        return is_strap(name, adv.service_uuids)

    def describe(self) -> str:
        return self.address or self.name or "any strap"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered exponential backoff: attempt n waits uniform(d/2, d), d = min(cap, base * factor**n)."""

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        d = min(self.cap_s, self.base_s * self.factor ** min(attempt, 64))
        return rng.uniform(d / 2.0, d)


class StrapUnusable(SensorError):
    """The device connected but is not a heart-rate strap (no 0x2A37): retrying would not help."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"{address}: {reason}")


@dataclass(slots=True)
class CollectorStats:
    """Counters of one collector (all since it was created)."""

    notifications: int = 0
    malformed: int = 0
    queued: int = 0
    dropped_full: int = 0
    scans: int = 0
    connects: int = 0
    disconnects: int = 0
    failed_attempts: int = 0
    stalls: int = 0
    battery_readings: int = 0
    pmd_frames: int = 0
    pmd_malformed: int = 0
    delays_s: list[float] = field(default_factory=list)
    """Every backoff delay slept, in clock seconds (bounded by the cap)."""


class _Marker:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


_QueueItem = tuple[float, bytes] | StrapEvent | _Marker


class NotificationInbox:
    """The callback side of one connection: stamps, counts and queues notifications.

    ``on_heart_rate`` is the function registered with bleak for 0x2A37; it never raises, whatever the
    bytes: a malformed payload is counted and skipped.
    """

    def __init__(
        self, stats: CollectorStats, clock: Clock, *, maxsize: int = 10_000, motion: MotionMeter | None = None
    ) -> None:
        self.stats = stats
        self.clock = clock
        self.queue: asyncio.Queue[_QueueItem] = asyncio.Queue(maxsize=maxsize)
        self.last_arrival: float = clock.now()
        self.motion = motion

    def on_heart_rate(self, _char: BleakGATTCharacteristic | None, data: bytes | bytearray) -> None:
        t = self.clock.now()
        self.stats.notifications += 1
        self.last_arrival = t
        payload = bytes(data)
        try:
            parse_measurement(payload)
        except MalformedMeasurement as exc:
            self.stats.malformed += 1
            log.debug("skipped a malformed notification: %s", exc.reason)
            if self.stats.malformed in (1, 10, 100, 1000) or self.stats.malformed % 10_000 == 0:
                log.warning("%d malformed notifications skipped so far", self.stats.malformed)
            return
        self._put((t, payload))

    def on_battery(self, _char: BleakGATTCharacteristic | None, data: bytes | bytearray) -> None:
        if len(data) >= 1 and data[0] <= 100:
            self.stats.battery_readings += 1
            self._put(BatteryLevel(t=self.clock.now(), battery_pct=int(data[0])))

    def on_pmd_data(self, _char: BleakGATTCharacteristic | None, data: bytes | bytearray) -> None:
        """A Polar PMD accelerometer frame: decoded here, turned into motion intensity per second."""
        self.stats.pmd_frames += 1
        try:
            frame = decode_acc_frame(data)
        except PmdFormatError as exc:
            self.stats.pmd_malformed += 1
            log.debug("skipped a malformed PMD frame: %s", exc.reason)
            return
        if self.motion is not None:
            for m in self.motion.push(frame, self.clock.now()):
                self._put(m)

    def on_pmd_control(self, _char: BleakGATTCharacteristic | None, data: bytes | bytearray) -> None:
        # response: F0, op code, measurement type, status (0 = success), parameters
        if len(data) >= 4 and data[0] == 0xF0 and data[3] != 0:
            log.info("the strap refused the motion stream (PMD status %d)", data[3])

    def on_disconnect(self, reason: str = "link lost") -> None:
        self._put(_Marker(reason), force=True)

    def _put(self, item: _QueueItem, *, force: bool = False) -> None:
        try:
            self.queue.put_nowait(item)
            if isinstance(item, tuple):
                self.stats.queued += 1
        except asyncio.QueueFull:
            if force:  # a marker must get through: make room by dropping the oldest item
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
                    self.stats.dropped_full += 1
                self.queue.put_nowait(item)
            else:
                self.stats.dropped_full += 1


def _kw(backend: type[Any] | None) -> dict[str, Any]:
    return {} if backend is None else {"backend": backend}


class BleCollector:
    """A beat source reading one strap over BLE, reconnecting forever until the consumer stops."""

    def __init__(
        self,
        target: StrapTarget = StrapTarget(),
        *,
        backoff: Backoff = Backoff(),
        clock: Clock | None = None,
        scan_timeout_s: float = 10.0,
        stall_timeout_s: float = 15.0,
        connect_attempts: int = 2,
        low_battery_levels_pct: Sequence[int] = LOW_BATTERY_LEVELS_PCT,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        rng: random.Random | None = None,
        motion: bool = True,
        motion_rate_hz: int = 25,
        op_timeout_s: float = 10.0,
    ) -> None:
        self.target = target
        self.backoff = backoff
        self.clock: Clock = clock or SystemClock()
        self.scan_timeout_s = scan_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.connect_attempts = connect_attempts
        self.low_battery_levels_pct = tuple(sorted(low_battery_levels_pct, reverse=True))
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.rng = rng or random.Random()
        self.motion = motion
        """Stream the accelerometer where the strap has Polar's PMD service (straps without it: no effect)."""
        self.motion_rate_hz = motion_rate_hz
        self.op_timeout_s = op_timeout_s
        """Real seconds any one GATT operation may take before the link is treated as broken."""
        self.stats = CollectorStats()
        self.device: BLEDevice | None = None
        self.connected = False
        self._low_reported: set[int] = set()

    @property
    def label(self) -> str:
        return self.device.address if self.device is not None else self.target.describe()

    async def find(self) -> BLEDevice | None:
        """One scan for the target; None when it was not seen within ``scan_timeout_s``."""
        self.stats.scans += 1
        device: BLEDevice | None = await BleakScanner.find_device_by_filter(
            self.target.matches, timeout=self.scan_timeout_s, **_kw(self.scanner_backend)
        )
        return device

    def battery_events(self, t: float, battery_pct: int) -> list[StrapEvent]:
        """The reading itself, plus a :class:`LowBattery` the first time each level is reached."""
        out: list[StrapEvent] = [BatteryLevel(t=t, battery_pct=battery_pct)]
        if battery_pct > RECHARGED_PCT:
            self._low_reported.clear()
            return out
        crossed = [lvl for lvl in self.low_battery_levels_pct if battery_pct <= lvl]
        new = [lvl for lvl in crossed if lvl not in self._low_reported]
        if new:
            self._low_reported.update(crossed)
            level = min(new)
            log.warning("%s: battery at %d%% (at or below %d%%)", self.label, battery_pct, level)
            out.append(LowBattery(t=t, level_pct=level, battery_pct=battery_pct))
        return out

    async def stream(self) -> AsyncIterator[SourceItem]:
        """Notifications and strap events, forever (until the consumer stops iterating)."""
        attempt = 0
        while True:
            if self.device is None:
                try:
                    self.device = await self.find()
                except CONNECT_ERRORS as exc:
                    log.warning("scan for %s failed: %s", self.target.describe(), exc)
                if self.device is None:
                    log.info("%s not found; scanning again later", self.target.describe())
            if self.device is not None:
                # after a drop the known device is tried first; a failure there triggers a rescan
                up = False  # a Connected went out and no Disconnected yet
                try:
                    async for item in self._connected_session(self.device):
                        if isinstance(item, Connected):
                            attempt, up = 0, True
                        elif isinstance(item, Disconnected):
                            up = False
                        yield item
                except (*CONNECT_ERRORS, asyncio.CancelledError) as exc:
                    task = asyncio.current_task()
                    if isinstance(exc, asyncio.CancelledError) and (task is None or task.cancelling()):
                        raise  # we are being stopped
                    # (a CancelledError nobody asked for is a library cancelling its own request on
                    # link loss: one more failed attempt)
                    self.stats.failed_attempts += 1
                    log.info("%s: connection attempt failed (%s); will rescan", self.label, exc)
                    if up:  # failed after the link was up: still a drop, and so a gap
                        self.stats.disconnects += 1
                        yield Disconnected(t=self.clock.now(), reason=f"error: {type(exc).__name__}")
                    self.device = None
            delay = self.backoff.delay_s(attempt, self.rng)
            attempt += 1
            self.stats.delays_s.append(delay)
            await self.clock.sleep(delay)

    async def _connected_session(self, device: BLEDevice) -> AsyncIterator[SourceItem]:
        inbox = NotificationInbox(
            self.stats, self.clock, motion=MotionMeter(rate_hz=self.motion_rate_hz) if self.motion else None
        )

        def on_disconnect(_client: BleakClient) -> None:
            inbox.on_disconnect("link lost")

        client = await establish_connection(
            BleakClient,
            device,
            device.name or device.address,
            disconnected_callback=on_disconnect,
            max_attempts=self.connect_attempts,
            **_kw(self.client_backend),
        )
        subscribed: list[BleakGATTCharacteristic] = []
        watchdog: asyncio.Task[None] | None = None
        try:
            hr = client.services.get_characteristic(HEART_RATE_MEASUREMENT_UUID)
            if hr is None:
                raise StrapUnusable(device.address, "no Heart Rate Measurement characteristic (0x2A37)")
            async with asyncio.timeout(self.op_timeout_s):
                await client.start_notify(hr, inbox.on_heart_rate)
            subscribed.append(hr)
            self.connected = True
            self.stats.connects += 1
            location = await self._read_byte(client, BODY_SENSOR_LOCATION_UUID)
            log.info("connected to %s (%s)", device.name or "strap", device.address)
            yield Connected(
                t=self.clock.now(), address=device.address, name=device.name or "", body_location=location
            )
            battery_char = client.services.get_characteristic(BATTERY_LEVEL_UUID)
            if battery_char is not None:
                pct = await self._read_byte(client, BATTERY_LEVEL_UUID)
                if pct is not None and pct <= 100:
                    self.stats.battery_readings += 1
                    for ev in self.battery_events(self.clock.now(), pct):
                        yield ev
                if "notify" in battery_char.properties:
                    with contextlib.suppress(*CONNECT_ERRORS):
                        async with asyncio.timeout(self.op_timeout_s):
                            await client.start_notify(battery_char, inbox.on_battery)
                        subscribed.append(battery_char)
            if self.motion:
                subscribed += await self._start_motion(client, inbox)
            inbox.last_arrival = self.clock.now()
            watchdog = asyncio.create_task(self._watch(inbox), name=f"ble-watchdog:{device.address}")
            while True:
                item = await inbox.queue.get()
                if isinstance(item, _Marker):
                    self.connected = False
                    self.stats.disconnects += 1
                    if item.reason.startswith("no notifications"):
                        self.stats.stalls += 1
                    log.info("%s: disconnected (%s)", device.address, item.reason)
                    yield Disconnected(t=self.clock.now(), reason=item.reason)
                    return
                if isinstance(item, BatteryLevel):
                    for ev in self.battery_events(item.t, item.battery_pct):
                        yield ev
                    continue
                yield item
        finally:
            self.connected = False
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            # unsubscribe and disconnect, each bounded: a half-dead link must not hang the supervisor
            if client.is_connected:
                for ch in subscribed:
                    with contextlib.suppress(*CONNECT_ERRORS):
                        async with asyncio.timeout(self.op_timeout_s):
                            await client.stop_notify(ch)
            with contextlib.suppress(*CONNECT_ERRORS):
                async with asyncio.timeout(self.op_timeout_s):
                    await client.disconnect()

    async def _start_motion(
        self, client: BleakClient, inbox: NotificationInbox
    ) -> list[BleakGATTCharacteristic]:
        """Start Polar's PMD accelerometer stream at a low rate; nothing happens for straps without it."""
        control = client.services.get_characteristic(PMD_CONTROL_UUID)
        data = client.services.get_characteristic(PMD_DATA_UUID)
        if control is None or data is None:
            return []
        out: list[BleakGATTCharacteristic] = []
        try:
            async with asyncio.timeout(self.op_timeout_s):
                if "indicate" in control.properties or "notify" in control.properties:
                    await client.start_notify(control, inbox.on_pmd_control)
                    out.append(control)
                await client.start_notify(data, inbox.on_pmd_data)
                out.append(data)
                await client.write_gatt_char(control, start_acc_command(self.motion_rate_hz), response=True)
            log.info("motion stream started at %d Hz", self.motion_rate_hz)
        except CONNECT_ERRORS as exc:
            log.info("motion not available on this strap: %s", exc)
        return out

    async def _watch(self, inbox: NotificationInbox) -> None:
        """Declare the link dead when no notification arrived for ``stall_timeout_s``."""
        step = self.stall_timeout_s / 4.0
        while True:
            await self.clock.sleep(step)
            silent = self.clock.now() - inbox.last_arrival
            if silent > self.stall_timeout_s:
                inbox.on_disconnect(f"no notifications for {silent:.0f} s")
                return

    async def _read_byte(self, client: BleakClient, uuid: str) -> int | None:
        try:
            async with asyncio.timeout(self.op_timeout_s):
                data = await client.read_gatt_char(uuid)
        except CONNECT_ERRORS as exc:
            log.debug("could not read %s: %s", uuid, exc)
            return None
        return int(data[0]) if data else None


def describe_found(straps: Sequence[FoundStrap]) -> str:
    """A table of found straps for the console."""
    if not straps:
        return "no straps found"
    lines = [f"{'name':<28} {'address':<40} {'RSSI':>5}  how"]
    for s in straps:
        how = "0x180D" if s.advertises_hr else f"name ({s.model})"
        lines.append(f"{(s.name or '?')[:28]:<28} {s.address:<40} {s.rssi_dbm:>5}  {how}")
    return "\n".join(lines)
