"""Arousal against the person's own baseline.

A = mean( z(HR), -z(ln RMSSD) ) with z against the personal baseline (median, robust SD), smoothed with an
exponential moving average (time constant ``tau_s``), score = 100 * Phi(A) (Phi: standard normal CDF).
States: calm below ``elevated_a``, elevated below ``high_a``, high above.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class ArousalState(StrEnum):
    CALM = "calm"
    ELEVATED = "elevated"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Arousal:
    """The arousal estimate at ``t``; ``a`` is the smoothed composite in baseline-SD units."""

    t: float
    score: float
    a: float
    z_hr: float
    z_ln_rmssd: float
    state: ArousalState
    warming_up: bool
    gated: bool = False
    """True when the window was judged physical (exercise) and arousal was suppressed."""
    hr_bpm: float = float("nan")
    rmssd_ms: float = float("nan")


@dataclass(frozen=True, slots=True)
class BaselineStats:
    """A personal baseline: centre and robust SD of HR and ln RMSSD of valid resting 60 s windows."""

    hr_bpm: float
    hr_sd: float
    ln_rmssd: float
    ln_rmssd_sd: float
    n_windows: int
    source: str = "population"


POPULATION_BASELINE = BaselineStats(hr_bpm=70.0, hr_sd=8.0, ln_rmssd=3.5, ln_rmssd_sd=0.45, n_windows=0)


def phi(x: float) -> float:
    """Standard normal cumulative distribution function."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def score_from_a(a: float) -> float:
    return 100.0 * phi(a)


@dataclass(slots=True)
class ArousalScorer:
    """Streaming arousal: feed (t, HR, ln RMSSD) of each fast window with the baseline in force."""

    tau_s: float = 20.0
    elevated_a: float = 0.5
    high_a: float = 1.5
    _ema: float | None = field(default=None)
    _last_t: float | None = field(default=None)

    def reset(self) -> None:
        self._ema = None
        self._last_t = None

    def update(
        self,
        t: float,
        hr_bpm: float,
        rmssd_ms: float,
        baseline: BaselineStats,
        *,
        warming_up: bool,
        gated: bool = False,
    ) -> Arousal:
        ln_rmssd = math.log(rmssd_ms) if rmssd_ms > 0 else baseline.ln_rmssd
        z_hr = (hr_bpm - baseline.hr_bpm) / baseline.hr_sd
        z_lr = (ln_rmssd - baseline.ln_rmssd) / baseline.ln_rmssd_sd
        raw = 0.5 * (z_hr - z_lr)
        if gated:
            # physical load: arousal suppressed (marked, not hidden); smoothing restarts from rest
            self._ema = 0.0
        elif self._ema is None or self._last_t is None:
            self._ema = raw
        else:
            dt = max(t - self._last_t, 0.0)
            alpha = 1.0 - math.exp(-dt / self.tau_s)
            self._ema += alpha * (raw - self._ema)
        self._last_t = t
        a = self._ema
        if a >= self.high_a:
            state = ArousalState.HIGH
        elif a >= self.elevated_a:
            state = ArousalState.ELEVATED
        else:
            state = ArousalState.CALM
        return Arousal(
            t=t,
            score=score_from_a(a),
            a=a,
            z_hr=z_hr,
            z_ln_rmssd=z_lr,
            state=state,
            warming_up=warming_up,
            gated=gated,
            hr_bpm=hr_bpm,
            rmssd_ms=rmssd_ms,
        )


@dataclass(slots=True)
class ExerciseGate:
    """Exercise is not arousal: decide, every fast window, whether the window is physical.

    With motion from the strap (``motion_active`` not None) motion decides. Otherwise RR-only rules: the
    recent HR is more than ``hr_above_bpm`` (30) above the baseline, or it rose by more than ``rise_bpm``
    (20) within ``rise_window_s`` (60 s) while breathing at ``fast_breath_per_min`` (20/min) or faster.
    Once triggered the gate holds until the 60 s HR is back within ``recover_within_bpm`` (10) of the
    baseline and then for ``recover_hold_s`` (5 minutes) more.
    """

    hr_above_bpm: float = 30.0
    rise_bpm: float = 20.0
    rise_window_s: float = 60.0
    fast_breath_per_min: float = 20.0
    recover_within_bpm: float = 10.0
    recover_hold_s: float = 300.0
    active: bool = False
    _recover_since: float | None = None
    _recent: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=32))

    def reset(self) -> None:
        self._recent.clear()

    def update(
        self,
        t: float,
        *,
        hr_bpm: float,
        recent_hr_bpm: float,
        baseline_hr_bpm: float,
        breathing_per_min: Callable[[], float],
        motion_active: bool | None = None,
    ) -> bool:
        """True when the window at ``t`` is physical (arousal suppressed)."""
        recent = self._recent
        while recent and recent[0][0] < t - self.rise_window_s:
            recent.popleft()
        low = min((h for _, h in recent), default=recent_hr_bpm)
        recent.append((t, recent_hr_bpm))
        if motion_active is not None:
            trigger = motion_active
        else:
            trigger = recent_hr_bpm > baseline_hr_bpm + self.hr_above_bpm
            if not trigger and recent_hr_bpm - low > self.rise_bpm:
                br = breathing_per_min()
                trigger = math.isfinite(br) and br >= self.fast_breath_per_min
        if trigger:
            self.active = True
            self._recover_since = None
        elif self.active:
            if hr_bpm <= baseline_hr_bpm + self.recover_within_bpm:
                if self._recover_since is None:
                    self._recover_since = t
                if t - self._recover_since >= self.recover_hold_s:
                    self.active = False
                    self._recover_since = None
            else:
                self._recover_since = None
        return self.active
