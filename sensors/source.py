"""What a beat source yields, and the clock it runs on.

A source (the BLE collector, file replay, the simulated strap) is any object with an async ``stream()``
that yields either a notification ``(arrival epoch s, 0x2A37 payload bytes)`` or a :class:`StrapEvent`
(connected, disconnected, battery, motion). Raw bytes are handed on; decoding happens downstream.

Time comes from a :class:`Clock` so that tests can run minutes of strap time in seconds
(:class:`ScaledClock`); production uses :class:`SystemClock`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, TypeAlias


@dataclass(frozen=True, slots=True)
class Connected:
    """The strap's link came up at ``t``; ``body_location`` is the 0x2A38 value when readable."""

    t: float
    address: str
    name: str
    body_location: int | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The strap's link dropped (or was given up) at ``t``: the next beats start after a gap."""

    t: float
    reason: str


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    """A Battery Level (0x2A19) reading in percent."""

    t: float
    battery_pct: int


@dataclass(frozen=True, slots=True)
class LowBattery:
    """The battery fell to or below ``level_pct`` (reported once per level until recharged)."""

    t: float
    level_pct: int
    battery_pct: int


@dataclass(frozen=True, slots=True)
class MotionIntensity:
    """Motion intensity for the second ending at ``t`` (mean |acceleration - gravity| in mg), and the mean
    acceleration vector of that second (mg, the strap's axes; at rest it is gravity, so its direction gives
    the posture) when the source has it."""

    t: float
    intensity_mg: float
    gravity_mg: tuple[float, float, float] | None = None


StrapEvent: TypeAlias = Connected | Disconnected | BatteryLevel | LowBattery | MotionIntensity
Notification: TypeAlias = tuple[float, bytes]
SourceItem: TypeAlias = Notification | StrapEvent


class BeatSource(Protocol):
    """Anything the pipeline can consume."""

    def stream(self) -> AsyncIterator[SourceItem]: ...


class Clock(Protocol):
    """Wall-clock time and sleeping, injectable so that tests run in accelerated time."""

    def now(self) -> float:
        """Epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ScaledClock:
    """A clock that runs ``scale`` times faster than real time, starting at ``epoch0``."""

    def __init__(self, scale: float, epoch0: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.scale = scale
        self.epoch0 = time.time() if epoch0 is None else epoch0
        self._m0 = time.monotonic()

    def now(self) -> float:
        return self.epoch0 + (time.monotonic() - self._m0) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)
