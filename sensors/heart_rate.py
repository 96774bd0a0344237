"""Pure decoder for the Bluetooth SIG Heart Rate Measurement characteristic (0x2A37).

Layout (GATT Specification Supplement, "Heart Rate Measurement"):

* byte 0, flags: bit0 heart-rate value format (0 = uint8, 1 = uint16); bit1 sensor contact detected;
  bit2 sensor contact feature supported; bit3 energy expended present (uint16, kJ);
  bit4 one or more RR-intervals present. Bits 5-7 are reserved for future use and ignored.
* heart rate: uint8, or uint16 little-endian.
* energy expended: uint16 little-endian kJ, when bit3.
* RR-intervals: uint16 little-endian in units of 1/1024 s, zero or more, to the end of the payload.

Bytes in, dataclass out; no I/O. ``parse_measurement`` raises :class:`MalformedMeasurement` (a
``ValueError``) and nothing else, whatever the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sensors.errors import MalformedMeasurement

__all__ = ["HEART_RATE_MEASUREMENT_UUID", "HeartRateMeasurement", "MalformedMeasurement", "parse_measurement"]

HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
BODY_SENSOR_LOCATION_UUID = "00002a38-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"

RR_TICKS_PER_S = 1024

_FLAG_HR_UINT16 = 0x01
_FLAG_CONTACT_DETECTED = 0x02
_FLAG_CONTACT_SUPPORTED = 0x04
_FLAG_ENERGY = 0x08
_FLAG_RR = 0x10


def ticks_to_ms(ticks: int) -> float:
    """RR ticks (1/1024 s) to milliseconds."""
    return ticks * 1000.0 / RR_TICKS_PER_S


def ms_to_ticks(rr_ms: float) -> int:
    """Milliseconds to the nearest RR tick (1/1024 s), as a strap would send it."""
    return round(rr_ms * RR_TICKS_PER_S / 1000.0)


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One decoded 0x2A37 notification."""

    hr_bpm: int
    rr_raw: tuple[int, ...]
    """RR intervals exactly as sent, in 1/1024 s ticks."""
    contact: bool | None
    """Sensor contact; None when the strap does not support contact detection."""
    energy_kj: int | None
    flags: int

    @property
    def rr_ms(self) -> tuple[float, ...]:
        """RR intervals in milliseconds."""
        return tuple(ticks_to_ms(t) for t in self.rr_raw)


def parse_measurement(data: bytes | bytearray | memoryview) -> HeartRateMeasurement:
    """Decode one Heart Rate Measurement notification payload."""
    # Only buffers are accepted: bytes(n) of an int would silently decode n zero bytes (or try to allocate
    # a huge block), and bytes(list) would hide a caller's bug.
    if type(data) is bytes:  # the usual case: nothing to check or copy
        buf = data
    elif not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMeasurement(f"not bytes-like: {type(data).__name__}", b"")
    else:
        try:
            buf = bytes(data)
        except Exception as exc:  # e.g. a released memoryview
            raise MalformedMeasurement(f"unreadable buffer: {exc}", b"") from exc
    if not buf:
        raise MalformedMeasurement("empty payload", buf)
    flags = buf[0]
    pos = 1
    if flags & _FLAG_HR_UINT16:
        if len(buf) < pos + 2:
            raise MalformedMeasurement("flags say uint16 heart rate but the payload is too short", buf)
        hr = int.from_bytes(buf[pos : pos + 2], "little")
        pos += 2
    else:
        if len(buf) < pos + 1:
            raise MalformedMeasurement("no heart rate byte after the flags", buf)
        hr = buf[pos]
        pos += 1
    contact: bool | None = bool(flags & _FLAG_CONTACT_DETECTED) if flags & _FLAG_CONTACT_SUPPORTED else None
    energy: int | None = None
    if flags & _FLAG_ENERGY:
        if len(buf) < pos + 2:
            raise MalformedMeasurement("flags say energy expended but the payload is too short", buf)
        energy = int.from_bytes(buf[pos : pos + 2], "little")
        pos += 2
    rest_len = len(buf) - pos
    if flags & _FLAG_RR:
        if rest_len % 2:
            raise MalformedMeasurement(f"odd number of RR bytes ({rest_len})", buf)
        rr: tuple[int, ...] = _rr_struct(rest_len // 2).unpack_from(buf, pos)
    else:
        if rest_len:
            raise MalformedMeasurement(f"{rest_len} trailing bytes but the RR flag is clear", buf)
        rr = ()
    return HeartRateMeasurement(hr_bpm=hr, rr_raw=rr, contact=contact, energy_kj=energy, flags=flags)


_RR_STRUCTS: dict[int, struct.Struct] = {}


def _rr_struct(n: int) -> struct.Struct:
    """The layout of ``n`` little-endian uint16 RR fields (one per count, made once)."""
    got = _RR_STRUCTS.get(n)
    if got is None:
        got = struct.Struct(f"<{n}H")
        if n <= _CACHED_RR_COUNTS:  # a real strap sends a few; an odd payload's layout is not kept
            _RR_STRUCTS[n] = got
    return got


_CACHED_RR_COUNTS = 32


def encode_measurement(
    hr_bpm: int,
    rr_raw: tuple[int, ...] | list[int] = (),
    *,
    contact: bool | None = True,
    energy_kj: int | None = None,
) -> bytes:
    """Encode a measurement the way a strap does (used by the simulated and the virtual strap)."""
    flags = 0
    body = bytearray()
    if hr_bpm > 255:
        flags |= _FLAG_HR_UINT16
        body += int(hr_bpm).to_bytes(2, "little")
    else:
        body.append(int(hr_bpm))
    if contact is not None:
        flags |= _FLAG_CONTACT_SUPPORTED
        if contact:
            flags |= _FLAG_CONTACT_DETECTED
    if energy_kj is not None:
        flags |= _FLAG_ENERGY
        body += int(energy_kj).to_bytes(2, "little")
    if rr_raw:
        flags |= _FLAG_RR
        for t in rr_raw:
            body += int(t).to_bytes(2, "little")
    return bytes([flags]) + bytes(body)
