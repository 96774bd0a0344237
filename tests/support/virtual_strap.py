"""A virtual chest strap for tests: a bumble GATT peripheral on bumble's in-process local link.

* :class:`VirtualStrap` is a peripheral with the standard Heart Rate Service (0x180D: Heart Rate
  Measurement 0x2A37 notify, Body Sensor Location 0x2A38 read) and Battery Service (0x180F: Battery
  Level 0x2A19 read + notify), advertising its name and 0x180D. It can drop the link, go away (stop
  advertising) and come back, and send any bytes as a notification.
* :class:`VirtualRadio` is the host side: one bumble central on the same link, and two small bleak
  backends bound to it (``radio.scanner_backend``, ``radio.client_backend``), so that
  ``BleakScanner(..., backend=...)`` and ``BleakClient(..., backend=...)`` -- and so the collector's real
  code, bleak-retry-connector included -- run against the virtual strap.
* :class:`HeartDriver` beats a heart in (accelerated) clock time and sends what a strap would: about once
  a second the RR intervals that ended since the last notification, remembering what went over the air
  and what was lost while the link was down.

bumble 0.0.236's emulated controller never answers HCI LE Create Connection Cancel with the LE Connection
Complete event (status 0x02, Unknown Connection Identifier) that the Core spec (Vol 4, Part E, 7.8.13)
requires, so a connect that timed out would hang for ever and block every later connect;
:class:`_Controller` adds that event.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, gatt, hci
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from sensors.heart_rate import encode_measurement, ms_to_ticks
from sensors.pmd import PMD_CONTROL_UUID, PMD_DATA_UUID, PMD_SERVICE_UUID
from sensors.source import Clock

_T = TypeVar("_T")

_PROPS = {
    0x01: "broadcast",
    0x02: "read",
    0x04: "write-without-response",
    0x08: "write",
    0x10: "notify",
    0x20: "indicate",
    0x40: "authenticated-signed-writes",
    0x80: "extended-properties",
}


class _Controller(Controller):
    """bumble's emulated controller, answering a connection cancel as the Core spec requires."""

    def on_hci_le_create_connection_cancel_command(self, _command: Any) -> Any:
        pending = self.pending_le_connection
        self.pending_le_connection = None
        if pending is not None:
            self.send_hci_packet(
                hci.HCI_LE_Connection_Complete_Event(
                    status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                    connection_handle=0,
                    role=hci.Role.CENTRAL,
                    peer_address_type=pending.peer_address_type,
                    peer_address=pending.peer_address,
                    connection_interval=0,
                    peripheral_latency=0,
                    supervision_timeout=0,
                    central_clock_accuracy=0,
                )
            )
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


def _uuid_str(u: core.UUID) -> str:
    return normalize_uuid_str(u.to_hex_str("-"))


class VirtualStrap:
    """A heart-rate strap as a bumble peripheral."""

    def __init__(
        self,
        link: LocalLink,
        *,
        name: str = "Polar H10 0A1B2C3D",
        address: str = "F1:00:00:00:00:01",
        battery_pct: int = 90,
        advertise_hr: bool = True,
        heart_rate_service: bool = True,
        pmd: bool = False,
    ) -> None:
        self.name = name
        self.address = address
        self.advertise_hr = advertise_hr
        controller = _Controller(f"strap-{address}", link=link, public_address=address)
        self.device = Device(
            name=name, address=hci.Address(address), host=Host(controller, AsyncPipeSink(controller))
        )
        P = gatt.Characteristic.Properties
        self.hrm = gatt.Characteristic(
            gatt.GATT_HEART_RATE_MEASUREMENT_CHARACTERISTIC, P.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        self.location = gatt.Characteristic(
            gatt.GATT_BODY_SENSOR_LOCATION_CHARACTERISTIC, P.READ, gatt.Characteristic.READABLE, bytes([1])
        )
        self.battery = gatt.Characteristic(
            gatt.GATT_BATTERY_LEVEL_CHARACTERISTIC,
            P.READ | P.NOTIFY,
            gatt.Characteristic.READABLE,
            bytes([battery_pct]),
        )
        services = [gatt.Service(gatt.GATT_BATTERY_SERVICE, [self.battery])]
        if heart_rate_service:
            services.insert(0, gatt.Service(gatt.GATT_HEART_RATE_SERVICE, [self.hrm, self.location]))
        self.pmd_commands: list[bytes] = []
        self.pmd_history: list[bytes] = []
        """Every control point command ever written (pmd_commands is the current link's)."""
        self.pmd_control = gatt.Characteristic(
            PMD_CONTROL_UUID.upper(),
            P.WRITE | P.INDICATE,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            att.AttributeValue(read=lambda _c: b"", write=self._on_pmd_write),
        )
        self.pmd_data = gatt.Characteristic(
            PMD_DATA_UUID.upper(), P.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        if pmd:
            services.append(gatt.Service(PMD_SERVICE_UUID.upper(), [self.pmd_control, self.pmd_data]))
        self.device.add_services(services)
        self.advertising = False
        self.link_drops = 0

    @property
    def connected(self) -> bool:
        return bool(self.device.connections)

    @property
    def pmd_streaming(self) -> bool:
        """The accelerometer stream was started on the current link."""
        return self.connected and bool(self.pmd_commands) and self.pmd_commands[-1][:2] == b"\x02\x02"

    def _on_pmd_write(self, _connection: Connection, value: bytes) -> None:
        self.pmd_commands.append(bytes(value))
        self.pmd_history.append(bytes(value))
        response = bytes([0xF0, value[0], value[1] if len(value) > 1 else 0, 0x00, 0x00])
        asyncio.get_running_loop().create_task(self._indicate(response))

    async def _indicate(self, value: bytes) -> None:
        with contextlib.suppress(core.BaseBumbleError, asyncio.TimeoutError):
            await self.device.indicate_subscribers(self.pmd_control, value=value)

    async def send_pmd(self, frame: bytes) -> bool:
        """Send one PMD data frame if the stream is on."""
        if not self.pmd_streaming:
            return False
        await self.device.notify_subscribers(self.pmd_data, value=frame)
        return True

    def _adv_data(self) -> bytes:
        fields: list[tuple[int, bytes]] = [(AdvertisingData.FLAGS, bytes([0x06]))]
        if self.advertise_hr:
            fields.append(
                (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, bytes.fromhex("0d18"))
            )
        fields.append((AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()))
        return bytes(AdvertisingData(fields))

    async def start(self) -> None:
        await self.device.power_on()
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        await self.advertise()

    def _on_connection(self, connection: Connection) -> None:
        # a real strap stops advertising while connected and starts again when the link drops
        self.advertising = False

        def on_disconnection(_reason: int) -> None:
            self.pmd_commands.clear()  # a stream ends with its link
            if self._present:
                asyncio.get_running_loop().create_task(self.advertise())

        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)

    _present = True

    async def advertise(self) -> None:
        if self.advertising or not self._present:
            return
        self.advertising = True
        await self.device.start_advertising(
            advertising_data=self._adv_data(), advertising_interval_min=20, advertising_interval_max=20
        )

    async def drop_link(self) -> None:
        """The strap drops the link (out of range for a moment); it advertises again at once."""
        for conn in list(self.device.connections.values()):
            self.link_drops += 1
            with contextlib.suppress(core.BaseBumbleError, asyncio.TimeoutError):
                await conn.disconnect()

    async def go_away(self) -> None:
        """The strap disappears: the link drops and it stops advertising until :meth:`come_back`."""
        self._present = False
        if self.advertising:
            self.advertising = False
            await self.device.stop_advertising()
        await self.drop_link()

    async def come_back(self) -> None:
        self._present = True
        if not self.connected:
            await self.advertise()

    def subscribed(self, characteristic: gatt.Characteristic[Any]) -> bool:
        """A connected central enabled notifications or indications of ``characteristic``."""
        for cccds in self.device.gatt_server.subscribers.values():
            cccd = cccds.get(characteristic.handle)
            if cccd and len(cccd) == 2 and cccd[0] & 0x03:
                return True
        return False

    async def notify(self, data: bytes) -> bool:
        """Send one Heart Rate Measurement notification; False when nobody receives it."""
        if not self.connected or not self.subscribed(self.hrm):
            return False
        self.hrm.value = data
        await self.device.notify_subscribers(self.hrm, value=data)
        return True

    async def set_battery(self, pct: int) -> None:
        self.battery.value = bytes([pct])
        if self.connected:
            await self.device.notify_subscribers(self.battery, value=bytes([pct]))


@dataclass
class HeartDriver:
    """Beats a heart on ``clock`` and notifies the strap once a clock second while it is connected."""

    strap: VirtualStrap
    clock: Clock
    seed: int = 0
    mean_rr_ms: float = 850.0
    resend_last_on_reconnect: bool = True
    sent: list[tuple[float, bytes]] = field(default_factory=list)
    """Every notification that went over the air: (clock time, bytes), re-sends included."""
    sent_rr: list[int] = field(default_factory=list)
    """RR ticks of every beat delivered (re-sends not repeated)."""
    lost_rr: list[int] = field(default_factory=list)
    """RR ticks of beats that ended while the link was down."""

    async def run(self) -> None:
        rng = random.Random(self.seed)
        t = self.clock.now()
        next_beat = t + self.mean_rr_ms / 1000.0
        pending: list[int] = []
        was_connected = self.strap.connected
        last: bytes | None = None
        while True:
            await self.clock.sleep(1.0)
            now = self.clock.now()
            while next_beat <= now:
                rr = self.mean_rr_ms + rng.gauss(0.0, 40.0)
                pending.append(ms_to_ticks(rr))
                next_beat += rr / 1000.0
            connected = self.strap.connected and self.strap.subscribed(self.strap.hrm)
            if not connected:
                self.lost_rr.extend(pending)
                pending = []
                was_connected = False
                continue
            if not was_connected and self.resend_last_on_reconnect and last is not None:
                # some straps repeat their last notification after a reconnect
                with contextlib.suppress(core.BaseBumbleError):
                    if await self.strap.notify(last):
                        self.sent.append((now, last))
            was_connected = True
            if not pending:
                continue
            data = encode_measurement(round(60000.0 / self.mean_rr_ms), pending[-9:])
            self.lost_rr.extend(pending[:-9])
            try:
                ok = await self.strap.notify(data)
            except core.BaseBumbleError:
                ok = False
            if ok:
                self.sent.append((now, data))
                self.sent_rr.extend(pending[-9:])
                last = data
            else:
                self.lost_rr.extend(pending[-9:])
            pending = []


class VirtualRadio:
    """The host's Bluetooth adapter: a bumble central on the link, with bleak backends bound to it."""

    def __init__(self, *, connect_timeout_s: float = 1.0, att_timeout_s: float = 1.0) -> None:
        self.link = LocalLink()
        self.connect_timeout_s = connect_timeout_s
        self.att_timeout_s = att_timeout_s
        """A GATT request on a link that just died is never answered by bumble's emulated controller;
        like a real stack, fail it after this long (BlueZ/ATT use 30 s)."""
        controller = _Controller("central", link=self.link, public_address="F0:F0:F0:F0:F0:F0")
        self.central = Device(
            name="calmstrap-host",
            address=hci.Address("F0:F0:F0:F0:F0:F0"),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        self.connect_lock = asyncio.Lock()
        self._scan_listeners: list[Callable[[Advertisement], None]] = []
        self.central.on(self.central.EVENT_ADVERTISEMENT, self._on_advertisement)
        radio = self
        self.scanner_backend: type[BaseBleakScanner] = type(
            "BumbleBleakScanner", (BumbleBleakScanner,), {"radio": radio}
        )
        self.client_backend: type[BaseBleakClient] = type(
            "BumbleBleakClient", (BumbleBleakClient,), {"radio": radio}
        )

    async def start(self) -> None:
        await self.central.power_on()

    def strap(self, **kwargs: Any) -> VirtualStrap:
        return VirtualStrap(self.link, **kwargs)

    def _on_advertisement(self, adv: Advertisement) -> None:
        for cb in list(self._scan_listeners):
            cb(adv)

    async def add_scan_listener(self, cb: Callable[[Advertisement], None]) -> None:
        self._scan_listeners.append(cb)
        if not self.central.scanning:
            await self.central.start_scanning(filter_duplicates=False)

    async def remove_scan_listener(self, cb: Callable[[Advertisement], None]) -> None:
        with contextlib.suppress(ValueError):
            self._scan_listeners.remove(cb)
        if not self._scan_listeners and self.central.scanning:
            await self.central.stop_scanning()


class BumbleBleakScanner(BaseBleakScanner):
    """A bleak scanner backend over the radio's bumble central."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        self.seen_devices = {}
        await self.radio.add_scan_listener(self._on_advertisement)

    async def stop(self) -> None:
        await self.radio.remove_scan_listener(self._on_advertisement)

    def _on_advertisement(self, adv: Advertisement) -> None:
        name = adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        local_name = name if isinstance(name, str) else None
        uuids = adv.data.get(AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS) or []
        service_uuids = [_uuid_str(u) for u in uuids] if isinstance(uuids, list) else []
        data = AdvertisementData(
            local_name=local_name,
            manufacturer_data={},
            service_data={},
            service_uuids=service_uuids,
            tx_power=None,
            rssi=int(adv.rssi),
            platform_data=(adv,),
        )
        address = str(adv.address)
        device = self.create_or_update_device(address, address, local_name, adv.address, data)
        if self.is_allowed_uuid(service_uuids):
            self.call_detection_callbacks(device, data)


class BumbleBleakClient(BaseBleakClient):
    """A bleak client backend over the radio's bumble central (GATT client of bumble)."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        details = address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        self._peer_address = details if isinstance(details, hci.Address) else hci.Address(self.address)
        self._connection: Connection | None = None
        self._closing = False
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return int(self._connection.att_mtu) if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout = min(float(kwargs.get("timeout", self._timeout)), self.radio.connect_timeout_s)
        async with self.radio.connect_lock:
            try:
                connection = await self.radio.central.connect(self._peer_address, timeout=timeout)
            except core.TimeoutError as exc:
                raise TimeoutError(f"{self.address}: connection timed out") from exc
            except core.BaseBumbleError as exc:
                raise BleakError(f"{self.address}: {exc}") from exc
        self._closing = False
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        peer = Peer(connection)
        await self._att(peer.request_mtu(247))  # as BlueZ, CoreBluetooth and WinRT do on connect
        await self._att(peer.discover_all())
        self.services = self._collection(peer)

    def _collection(self, peer: Peer) -> BleakGATTServiceCollection:
        coll = BleakGATTServiceCollection()
        for s in peer.services:
            service = BleakGATTService(s, s.handle, _uuid_str(s.uuid))
            coll.add_service(service)
            for c in s.characteristics:
                props = [name for bit, name in _PROPS.items() if int(c.properties) & bit]
                char = BleakGATTCharacteristic(
                    c,
                    c.handle,
                    _uuid_str(c.uuid),
                    props,
                    lambda: self.mtu_size - 3,
                    service,  # type: ignore[arg-type]
                )
                coll.add_characteristic(char)
                for d in c.descriptors:
                    coll.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), char))
        return coll

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._subscribers.clear()
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        conn = self._connection
        if conn is None:
            return
        self._closing = True
        with contextlib.suppress(BleakError):
            await self._att(conn.disconnect())
        self._connection = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("the virtual strap does not pair")

    async def unpair(self) -> None:
        raise NotImplementedError("the virtual strap does not pair")

    def _require(self) -> None:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")

    async def _att(self, op: Awaitable[_T]) -> _T:
        """One GATT request: bumble errors and an unanswered request become BleakError."""
        try:
            async with asyncio.timeout(self.radio.att_timeout_s):
                return await op
        except TimeoutError as exc:
            raise BleakError(f"{self.address}: GATT request timed out") from exc
        except core.BaseBumbleError as exc:
            raise BleakError(f"{self.address}: {exc}") from exc
        except asyncio.CancelledError as exc:
            # bumble cancels the pending request's future when the link drops; unless this task itself
            # is being cancelled, that is a failed request (bleak's backends raise BleakError there)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise BleakError(f"{self.address}: link lost during a GATT request") from exc

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._require()
        return bytearray(await self._att(characteristic.obj.read_value()))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._require()
        return bytearray(await self._att(descriptor.obj.read_value()))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        self._require()
        await self._att(characteristic.obj.write_value(bytes(data), with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        self._require()
        await self._att(descriptor.obj.write_value(bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._require()

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        await self._att(characteristic.obj.subscribe(on_value))
        self._subscribers[characteristic.handle] = on_value

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        on_value = self._subscribers.pop(characteristic.handle, None)
        if self._connection is None or on_value is None:
            return
        with contextlib.suppress(BleakError):
            await self._att(characteristic.obj.unsubscribe(on_value))
