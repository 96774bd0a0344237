"""Beat clock: decoded measurements plus arrival times become beats on the wall clock.

A strap sends RR intervals, not times. The beat times are the cumulative RR sum, anchored to the arrival
time of the notification that carried them (the last RR of a notification ends shortly before it is sent)
and kept honest against the arrival clock:

* the first notification, and any after a gap, anchors: its last beat is placed at the arrival time;
* afterwards each beat follows the previous one by its RR; the difference between arrival and predicted
  time (drift) is corrected slowly, and a drift above ``max_drift_s`` re-anchors and records a gap;
* silence longer than ``max_silence_s`` between arrivals carrying RR re-anchors and records a gap;
* a notification re-sent after a reconnect (the same heart rate and RR ticks as one of the last few
  before it) creates no beats;
* beat times never go backwards: a re-anchor that would place beats before the last one starts them at
  the last one instead.

Gaps are explicit :class:`Gap` records: nothing is interpolated across them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sensors.heart_rate import RR_TICKS_PER_S, HeartRateMeasurement


@dataclass(frozen=True, slots=True)
class Beat:
    """One RR interval placed on the wall clock: ``t`` is the epoch second of the beat that ends it."""

    t: float
    rr_ms: float
    device: str
    user: str


class GapReason(StrEnum):
    START = "start"
    SILENCE = "silence"
    DRIFT = "drift"
    DISCONNECT = "disconnect"
    NO_CONTACT = "no_contact"


@dataclass(frozen=True, slots=True)
class Gap:
    """A span with no beats: ``start_t`` is the last beat before it, ``end_t`` the first beat's start after it."""

    start_t: float
    end_t: float
    device: str
    user: str
    reason: GapReason

    @property
    def duration_s(self) -> float:
        return self.end_t - self.start_t


@dataclass(slots=True)
class BeatClockStats:
    notifications: int = 0
    beats: int = 0
    gaps: int = 0
    duplicates_dropped: int = 0
    reanchors: int = 0


@dataclass(slots=True)
class BeatClock:
    """Turns (measurement, arrival time) into beats and gaps for one strap."""

    device: str
    user: str
    max_drift_s: float = 1.5
    max_silence_s: float = 3.0
    drift_gain: float = 0.05
    """Fraction of the observed drift corrected per notification (slow anchor correction)."""
    stats: BeatClockStats = field(default_factory=BeatClockStats)
    _last_beat_t: float | None = None
    _last_arrival: float | None = None
    recent_payloads: int = 4
    """How many of the last notifications a post-reconnect notification is compared with."""
    _recent: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    _reconnected: bool = False
    _disconnect_t: float | None = None

    def mark_disconnect(self, t: float) -> None:
        """The link dropped at ``t``: the next beats start after a gap."""
        self._reconnected = True
        if self._disconnect_t is None:
            self._disconnect_t = t

    def push(self, m: HeartRateMeasurement, arrival_t: float) -> tuple[list[Beat], Gap | None]:
        """Place the RR intervals of one notification; returns the new beats and a gap if one opened."""
        self.stats.notifications += 1
        if not m.rr_raw:
            return [], None
        payload = (m.hr_bpm, m.rr_raw)
        if self._reconnected and payload in self._recent:
            self.stats.duplicates_dropped += 1
            return [], None
        rr_ms = [r * 1000.0 / RR_TICKS_PER_S for r in m.rr_raw]  # m.rr_ms, without its calls
        gap: Gap | None = None
        reason: GapReason | None = None
        last = self._last_beat_t
        if last is None:
            reason = GapReason.START
        elif self._reconnected:
            reason = GapReason.DISCONNECT
        elif self._last_arrival is not None and arrival_t - self._last_arrival > self.max_silence_s:
            reason = GapReason.SILENCE
        else:
            predicted_last = last + sum(rr_ms) / 1000.0
            drift = arrival_t - predicted_last
            if abs(drift) > self.max_drift_s:
                reason = GapReason.DRIFT
            else:
                last += self.drift_gain * drift
        if reason is not None:
            start = arrival_t - sum(rr_ms) / 1000.0
            prev = self._last_beat_t
            if prev is not None:
                start = max(start, prev)  # never before the last beat placed
                gap = Gap(start_t=prev, end_t=start, device=self.device, user=self.user, reason=reason)
                self.stats.gaps += 1
                self.stats.reanchors += 1
            last = start
        assert last is not None
        beats: list[Beat] = []
        t = last
        device, user = self.device, self.user
        for r in rr_ms:
            t += r / 1000.0
            beats.append(Beat(t, r, device, user))
        self._last_beat_t = t
        self._last_arrival = arrival_t
        recent = self._recent
        recent.append(payload)
        if len(recent) > self.recent_payloads:
            del recent[: -self.recent_payloads]
        self._reconnected = False
        self._disconnect_t = None
        self.stats.beats += len(beats)
        return beats, gap


def beats_from_rr(rr_ms: Sequence[float], *, start_t: float, device: str, user: str) -> list[Beat]:
    """Place a continuous RR series (a file, a recording) on the clock from ``start_t``."""
    out: list[Beat] = []
    t = start_t
    for r in rr_ms:
        t += float(r) / 1000.0
        out.append(Beat(t=t, rr_ms=float(r), device=device, user=user))
    return out
