"""Episode detection on the arousal composite A (baseline-SD units), sampled every few seconds.

* onset: A >= ``onset_a`` (1.5) held for ``onset_hold_s`` (60 s); the onset is dated back to A's last
  upward crossing of ``end_a`` (0.5);
* peak: the maximum of A while the episode lasts;
* end: the start of a run of ``end_hold_s`` (120 s) with A < ``end_a``;
* episodes less than ``merge_gap_s`` (180 s) apart merge into one; an episode is final (emitted) once that
  merge window has passed without a new onset.

Physical work is not arousal: an ``active`` (gated) or ``settling`` sample never starts or extends an
episode; one that arrives while an episode is open ends it there, and the episode is flagged ``exertion``.
While the HR is in the range of physical work but not yet long enough to tell (``Arousal.exertion``, no
motion data), an onset waits; if the verdict is "not work" the episode starts, dated back as usual, and is
flagged ``exertion`` too (the prompt may then ask rather than assume).

Amplitude is the peak score minus the mean score over the minute before onset (score points, 0-100);
``amplitude_a`` is the same in A units. t50 is the time from the peak until A first falls to half its
peak; recovery is the time from the peak to the end; area is the integral of A above ``end_a`` (A·s).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from processing.arousal import Arousal


@dataclass(frozen=True, slots=True)
class EpisodeOnset:
    """Emitted live when an episode starts (after A held high for the onset time)."""

    episode_id: str
    user: str
    onset_t: float
    detected_t: float
    score: float
    exertion: bool = False
    """HR was in the range of physical work during the rise (no motion data): it may be exertion."""


@dataclass(frozen=True, slots=True)
class Episode:
    """One finished arousal episode."""

    id: str
    user: str
    onset_t: float
    peak_t: float
    end_t: float
    peak_score: float
    peak_a: float
    amplitude: float
    amplitude_a: float
    duration_s: float
    recovery_s: float
    t50_s: float
    area_a_s: float
    prompt_ids: tuple[str, ...] = ()
    exertion: bool = False
    """Ambiguous exertion: the episode included HR in the range of physical work, or physical work ended it."""


@dataclass(slots=True)
class _Open:
    id: str
    onset_t: float
    pre_score: float
    pre_a: float
    peak_t: float
    peak_a: float
    peak_score: float
    area: float = 0.0
    t50_t: float | None = None
    below_since: float | None = None
    end_t: float | None = None
    exertion: bool = False


@dataclass(slots=True)
class EpisodeDetector:
    user: str
    onset_a: float = 1.5
    onset_hold_s: float = 60.0
    end_a: float = 0.5
    end_hold_s: float = 120.0
    merge_gap_s: float = 180.0
    pre_onset_s: float = 60.0
    _history: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=144))
    _last_upcross_t: float | None = None
    _high_since: float | None = None
    _open: _Open | None = None
    _prev: Arousal | None = None
    _counter: int = 0
    _exertion_in_rise: bool = False

    @property
    def active(self) -> bool:
        return self._open is not None and self._open.end_t is None

    def _pre_onset(self, onset_t: float) -> tuple[float, float]:
        vals = [(s, a) for (t, s, a) in self._history if onset_t - self.pre_onset_s <= t < onset_t]
        if not vals:
            vals = [(s, a) for (t, s, a) in self._history if t <= onset_t][-1:] or [(50.0, 0.0)]
        return sum(v[0] for v in vals) / len(vals), sum(v[1] for v in vals) / len(vals)

    def update(self, x: Arousal) -> list[EpisodeOnset | Episode]:
        out: list[EpisodeOnset | Episode] = []
        if x.gated or x.settling:
            return self._physical(x)
        prev = self._prev
        dt = (x.t - prev.t) if prev is not None else 0.0
        if (prev is None or prev.a < self.end_a or prev.gated or prev.settling) and x.a >= self.end_a:
            self._last_upcross_t = x.t
            self._exertion_in_rise = False
        if x.exertion:
            self._exertion_in_rise = True
        if x.a >= self.onset_a:
            if self._high_since is None:
                self._high_since = x.t
        else:
            self._high_since = None
        ep = self._open
        if ep is not None and ep.end_t is not None:
            # waiting out the merge window
            # a rise that began within the merge gap may still become an onset: wait for it
            rising = (
                self._last_upcross_t is not None
                and ep.end_t < self._last_upcross_t < ep.end_t + self.merge_gap_s
                and x.a >= self.end_a
            )
            if (
                self._high_since is not None
                and x.t - self._high_since >= self.onset_hold_s
                and not x.exertion
            ):
                ep.end_t = None
                ep.below_since = None
            elif x.t - ep.end_t >= self.merge_gap_s and not rising:
                out.append(self._finish(ep))
                self._open = ep = None
        high_since = self._high_since
        if ep is None and high_since is not None and x.t - high_since >= self.onset_hold_s and not x.exertion:
            self._counter += 1
            onset_t = self._last_upcross_t if self._last_upcross_t is not None else high_since
            pre_score, pre_a = self._pre_onset(onset_t)
            peak = max(
                ((t, s, a) for (t, s, a) in self._history if t >= onset_t),
                default=(x.t, x.score, x.a),
                key=lambda r: r[2],
            )
            ep = _Open(
                id=f"{self.user}-{int(onset_t)}-{self._counter}",
                onset_t=onset_t,
                pre_score=pre_score,
                pre_a=pre_a,
                peak_t=peak[0],
                peak_a=peak[2],
                peak_score=peak[1],
                area=sum(max(a - self.end_a, 0.0) for (t, _s, a) in self._history if t >= onset_t) * dt,
                exertion=self._exertion_in_rise,
            )
            self._open = ep
            out.append(EpisodeOnset(ep.id, self.user, onset_t, x.t, x.score, exertion=ep.exertion))
        if ep is not None and ep.end_t is None:
            ep.exertion = ep.exertion or x.exertion
            ep.area += max(x.a - self.end_a, 0.0) * dt
            if x.a > ep.peak_a:
                ep.peak_a, ep.peak_t, ep.peak_score = x.a, x.t, x.score
                ep.t50_t = None
            if ep.t50_t is None and x.a <= ep.peak_a / 2.0:
                ep.t50_t = x.t
            if x.a < self.end_a:
                if ep.below_since is None:
                    ep.below_since = x.t
                if x.t - ep.below_since >= self.end_hold_s:
                    ep.end_t = ep.below_since
            else:
                ep.below_since = None
        self._history.append((x.t, x.score, x.a))
        self._prev = x
        return out

    def _physical(self, x: Arousal) -> list[EpisodeOnset | Episode]:
        """An active or settling sample: no rise is pending; an open episode ends here, flagged."""
        out: list[EpisodeOnset | Episode] = []
        ep = self._open
        if ep is not None:
            if ep.end_t is None:
                ep.end_t = ep.below_since if ep.below_since is not None else x.t
                ep.exertion = ep.exertion or x.gated
            out.append(self._finish(ep))
            self._open = None
        self._high_since = None
        self._last_upcross_t = None
        self._exertion_in_rise = False
        self._history.append((x.t, x.score, x.a))
        self._prev = x
        return out

    def flush(self) -> list[Episode]:
        """Close whatever is open (end of a recording): an active episode ends at the last sample."""
        ep = self._open
        self._open = None
        if ep is None:
            return []
        if ep.end_t is None:
            ep.end_t = self._prev.t if self._prev is not None else ep.peak_t
        return [self._finish(ep)]

    def _finish(self, ep: _Open) -> Episode:
        end_t = ep.end_t if ep.end_t is not None else ep.peak_t
        t50_t = ep.t50_t if ep.t50_t is not None else end_t
        return Episode(
            id=ep.id,
            user=self.user,
            onset_t=ep.onset_t,
            peak_t=ep.peak_t,
            end_t=end_t,
            peak_score=ep.peak_score,
            peak_a=ep.peak_a,
            amplitude=ep.peak_score - ep.pre_score,
            amplitude_a=ep.peak_a - ep.pre_a,
            duration_s=end_t - ep.onset_t,
            recovery_s=max(end_t - ep.peak_t, 0.0),
            t50_s=max(t50_t - ep.peak_t, 0.0),
            area_a_s=ep.area,
            exertion=ep.exertion,
        )
