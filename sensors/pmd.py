"""Pure decoder for Polar Measurement Data (PMD) accelerometer frames, and motion intensity per second.

Polar straps (H10) expose the PMD service FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8: a control point
(FB005C81, write + indicate) starts a stream, frames arrive on the data characteristic (FB005C82, notify).

Data frame layout (as implemented and unit-tested in Polar's BLE SDK, see tests/fixtures/README.md):

* byte 0: measurement type (0x02 = accelerometer);
* bytes 1-8: timestamp, uint64 little-endian, nanoseconds (of the last sample in the frame);
* byte 9: frame type; bit 7 set = delta-compressed, bits 0-6 = the type;
* raw frames: samples of 3 channels (x, y, z) of signed little-endian integers: type 0 = 8 bit, type 1 =
  16 bit, type 2 = 24 bit; values in mg (the H10 sends type 1);
* compressed frames (types 0 and 1 for the accelerometer): a reference sample (3 x int16 LE), then delta
  blocks, each ``[delta bit width, sample count]`` followed by ``count * 3`` signed deltas of that width,
  packed least-significant bit first, the block padded to a whole byte; each sample is the previous one
  plus its deltas. Compressed values are multiplied by the stream's factor (from its settings) to get G,
  and by 1000 to get mg (compressed type 1 uses factor 1 and mg directly).

:func:`decode_acc_frame` raises :class:`PmdFormatError` (and nothing else) for any bytes that do not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from sensors.errors import SensorError
from sensors.source import MotionIntensity

PMD_SERVICE_UUID: Final = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_UUID: Final = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID: Final = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

MEASUREMENT_ACC: Final = 0x02
PMD_EPOCH_OFFSET_S: Final = 946_684_800.0
"""PMD timestamps count nanoseconds from 2000-01-01T00:00:00Z."""

_RAW_BYTES: Final = {0: 1, 1: 2, 2: 3}
_GRAVITY_MG: Final = 1000.0


class PmdFormatError(SensorError, ValueError):
    """A PMD data frame that does not fit its own header; ``reason`` says what."""

    def __init__(self, reason: str, data: bytes) -> None:
        self.reason = reason
        self.data = bytes(data)
        super().__init__(f"malformed PMD frame ({len(self.data)} bytes): {reason}")


@dataclass(frozen=True, slots=True)
class AccFrame:
    """One accelerometer frame: samples in mg, timestamp of the last sample in PMD nanoseconds."""

    timestamp_ns: int
    frame_type: int
    compressed: bool
    samples_mg: tuple[tuple[float, float, float], ...]


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def decode_acc_frame(data: bytes | bytearray, *, factor: float = 1.0) -> AccFrame:
    """Decode one accelerometer data frame (see the module docstring for the layout)."""
    buf = bytes(data)
    if len(buf) < 10:
        raise PmdFormatError("shorter than the 10-byte header", buf)
    if buf[0] != MEASUREMENT_ACC:
        raise PmdFormatError(f"measurement type {buf[0]:#04x} is not the accelerometer (0x02)", buf)
    ts = int.from_bytes(buf[1:9], "little")
    compressed = bool(buf[9] & 0x80)
    ftype = buf[9] & 0x7F
    body = buf[10:]
    if not compressed:
        if ftype not in _RAW_BYTES:
            raise PmdFormatError(f"unknown raw frame type {ftype}", buf)
        width = _RAW_BYTES[ftype]
        step = 3 * width
        if not body or len(body) % step:
            raise PmdFormatError(f"{len(body)} data bytes is not a whole number of {step}-byte samples", buf)
        samples = tuple(
            tuple(
                float(int.from_bytes(body[i + k * width : i + (k + 1) * width], "little", signed=True))
                for k in range(3)
            )
            for i in range(0, len(body), step)
        )
        return AccFrame(ts, ftype, False, samples)  # type: ignore[arg-type]
    if ftype not in (0, 1):
        raise PmdFormatError(f"unknown compressed frame type {ftype}", buf)
    if len(body) < 6:
        raise PmdFormatError("no room for the reference sample", buf)
    ref = [int.from_bytes(body[k * 2 : k * 2 + 2], "little", signed=True) for k in range(3)]
    raw: list[list[int]] = [list(ref)]
    pos = 6
    while pos < len(body):
        if pos + 2 > len(body):
            raise PmdFormatError("a delta block header is cut short", buf)
        bits, count = body[pos], body[pos + 1]
        pos += 2
        if not 1 <= bits <= 32 or count == 0:
            raise PmdFormatError(f"delta block with width {bits} bits and {count} samples", buf)
        nbytes = math.ceil(count * 3 * bits / 8)
        if pos + nbytes > len(body):
            raise PmdFormatError("a delta block is cut short", buf)
        packed = int.from_bytes(body[pos : pos + nbytes], "little")
        pos += nbytes
        mask = (1 << bits) - 1
        shift = 0
        for _ in range(count):
            prev = raw[-1]
            nxt = []
            for k in range(3):
                nxt.append(prev[k] + _signed((packed >> shift) & mask, bits))
                shift += bits
            raw.append(nxt)
    scale = factor * 1000.0 if ftype == 0 else factor
    samples_c = tuple((s[0] * scale, s[1] * scale, s[2] * scale) for s in raw)
    return AccFrame(ts, ftype, True, samples_c)


def pmd_time_s(timestamp_ns: int) -> float:
    """A PMD timestamp as epoch seconds (the strap's own clock; its offset to the host may be large)."""
    return PMD_EPOCH_OFFSET_S + timestamp_ns / 1e9


def start_acc_command(rate_hz: int = 25, range_g: int = 8, resolution_bits: int = 16) -> bytes:
    """The control point command that starts the accelerometer stream (settings: rate, resolution, range)."""
    out = bytearray([0x02, MEASUREMENT_ACC])
    for setting, value in ((0x00, rate_hz), (0x01, resolution_bits), (0x02, range_g)):
        out += bytes([setting, 0x01]) + int(value).to_bytes(2, "little")
    return bytes(out)


STOP_ACC_COMMAND: Final = bytes([0x03, MEASUREMENT_ACC])


@dataclass(slots=True)
class MotionMeter:
    """Motion intensity per second: mean | |a| - 1 g | in mg over the samples of each second, and the mean
    acceleration vector of the second (its direction is gravity's when the wearer is still: the posture).

    Frames are placed on the host clock by their arrival time (the last sample arrives with the frame) and
    the sample rate; a second is emitted once a sample of a later second has arrived.
    """

    rate_hz: float = 25.0
    _second: int | None = None
    _sum: float = 0.0
    _n: int = 0
    _gx: float = 0.0
    _gy: float = 0.0
    _gz: float = 0.0
    _last_t: float | None = None
    emitted: list[MotionIntensity] = field(default_factory=list)

    def push(self, frame: AccFrame, arrival_t: float) -> list[MotionIntensity]:
        n = len(frame.samples_mg)
        out: list[MotionIntensity] = []
        for i, (x, y, z) in enumerate(frame.samples_mg):
            t = arrival_t - (n - 1 - i) / self.rate_hz
            if self._last_t is not None and t <= self._last_t:
                t = self._last_t + 1e-6  # frames late on the host clock never go back in time
            self._last_t = t
            sec = math.floor(t)
            if self._second is not None and sec != self._second and self._n:
                n_s = self._n
                gravity = (self._gx / n_s, self._gy / n_s, self._gz / n_s)
                out.append(
                    MotionIntensity(
                        t=float(self._second + 1), intensity_mg=self._sum / n_s, gravity_mg=gravity
                    )
                )
                self._sum, self._n = 0.0, 0
                self._gx = self._gy = self._gz = 0.0
            self._second = sec
            self._sum += abs(math.sqrt(x * x + y * y + z * z) - _GRAVITY_MG)
            self._n += 1
            self._gx += x
            self._gy += y
            self._gz += z
        self.emitted.extend(out)
        return out
