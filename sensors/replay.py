"""RR files replayed as if live (``calmstrap run --source replay:FILE``); reading them is :mod:`sensors.rr_files`.

The formats, and what a readable file is, are described there; :func:`read_rr_file` reads one whole file into
an :class:`RRRecording` (replay holds it in memory; ``calmstrap import`` streams instead).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sensors.heart_rate import RR_TICKS_PER_S, encode_measurement, ms_to_ticks
from sensors.rr_files import MAX_RR_MS, RRFormat, iter_rr_file, scan_rr_file
from sensors.source import SourceItem

__all__ = ["MAX_RR_MS", "RRFormat", "RRRecording", "ReplaySource", "beat_times", "read_rr_file"]


@dataclass(frozen=True, slots=True)
class RRRecording:
    """RR intervals read from a file; ``t_s`` holds per-beat epoch times when the file had them."""

    rr_ms: tuple[float, ...]
    t_s: tuple[float, ...] | None
    format: RRFormat
    path: str

    @property
    def duration_s(self) -> float:
        return sum(self.rr_ms) / 1000.0


def read_rr_file(path: str | Path, fmt: RRFormat = RRFormat.AUTO) -> RRRecording:
    """Read a whole RR file into memory (for replay); raises :class:`ReplayFormatError` naming the first bad line.

    ``calmstrap import`` streams instead (:func:`sensors.rr_files.scan_rr_file` and ``iter_rr_file``).
    """
    scan = scan_rr_file(path, fmt)
    rr: list[float] = []
    ts: list[float] = []
    for t, r in iter_rr_file(scan):
        rr.append(r)
        if t is not None:
            ts.append(t)
    return RRRecording(
        rr_ms=tuple(rr), t_s=tuple(ts) if scan.has_times else None, format=scan.format, path=scan.path
    )


def beat_times(rec: RRRecording, start_t: float) -> list[float]:
    """Epoch time of each beat: the file's own times where it had them, else cumulative RR from ``start_t``."""
    if rec.t_s is not None:
        return list(rec.t_s)
    out: list[float] = []
    t = start_t
    for r in rec.rr_ms:
        t += r / 1000.0
        out.append(t)
    return out


@dataclass(slots=True)
class ReplaySource:
    """Streams an RR file as 0x2A37 notifications, about one per second of beats, as if live.

    ``speed`` is recorded seconds per real second. Arrival times are the recording's beat times moved to
    start at ``start_t`` (default: now); with speed > 1 they run ahead of the wall clock, as the simulated
    strap's do.
    """

    recording: RRRecording
    speed: float = 1.0
    start_t: float | None = None
    notify_every_s: float = 1.0
    hr_uint16: bool = False

    async def stream(self) -> AsyncIterator[SourceItem]:
        rec = self.recording
        if not rec.rr_ms:
            return
        start = self.start_t if self.start_t is not None else time.time()
        times = beat_times(rec, start)
        if rec.t_s is not None:  # keep the file's beat spacing, move it to start at ``start``
            offset = start - (rec.t_s[0] - rec.rr_ms[0] / 1000.0)
            times = [x + offset for x in times]
        wall0 = time.monotonic()
        pending: list[int] = []
        next_send = start + self.notify_every_s
        for t, rr in zip(times, rec.rr_ms, strict=True):
            if t > next_send:
                if pending:
                    yield await self._emit(pending, next_send, start, wall0)
                    pending = []
                while next_send < t:
                    next_send += self.notify_every_s
            pending.append(ms_to_ticks(rr))
            if len(pending) == 9:  # a notification holds at most 9 RRs with a uint8 heart rate
                yield await self._emit(pending, t, start, wall0)
                pending = []
        if pending:
            yield await self._emit(pending, times[-1], start, wall0)

    async def _emit(self, ticks: list[int], arrival: float, t0: float, wall0: float) -> tuple[float, bytes]:
        delay = wall0 + (arrival - t0) / self.speed - time.monotonic()
        await asyncio.sleep(max(0.0, delay))
        mean_ms = sum(ticks) * 1000.0 / RR_TICKS_PER_S / len(ticks)
        hr = max(1, min(255, round(60000.0 / mean_ms)))
        return arrival, encode_measurement(hr, ticks, contact=None)
