"""Arousal against the person's own baseline, and the gate that keeps physical work apart from it.

A = mean( z(HR), -z(ln RMSSD) ) with z against the personal baseline (median, robust SD), smoothed with an
exponential moving average (time constant ``tau_s``), score = 100 * Phi(A) (Phi: standard normal CDF).
States: calm below ``elevated_a``, elevated below ``high_a``, high above; ``active`` while the window is
judged physical work (the score is still computed and shown, it is just not read as arousal) and
``settling`` for a short time after a posture change (strap accelerometer only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class ArousalState(StrEnum):
    CALM = "calm"
    ELEVATED = "elevated"
    HIGH = "high"
    ACTIVE = "active"
    """Physical work (exercise): the score is kept and shown but is not arousal."""
    SETTLING = "settling"
    """A short settling period after a posture change (seen by the strap's accelerometer)."""


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
    """True when the window was judged physical (exercise): state ``active``, never an episode."""
    hr_bpm: float = float("nan")
    rmssd_ms: float = float("nan")
    settling: bool = False
    """True in the settling period after a posture change: state ``settling``, never an episode."""
    exertion: bool = False
    """HR in the range of physical work (far above the baseline) but not yet long enough to tell (no motion
    data): an episode's onset waits, and an episode that includes such a stretch is flagged."""
    baseline_minutes: float = float("nan")
    """Distinct minutes of ordinary windows the baseline has collected (capped at what warm-up needs)."""
    warmup_fraction: float = 1.0
    """How far the baseline's warm-up is, 0..1 (1: personal)."""


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
        settling: bool = False,
        exertion: bool = False,
        baseline_minutes: float = float("nan"),
        warmup_fraction: float = 1.0,
    ) -> Arousal:
        ln_rmssd = math.log(rmssd_ms) if rmssd_ms > 0 else baseline.ln_rmssd
        z_hr = (hr_bpm - baseline.hr_bpm) / baseline.hr_sd
        z_lr = (ln_rmssd - baseline.ln_rmssd) / baseline.ln_rmssd_sd
        raw = 0.5 * (z_hr - z_lr)
        if self._ema is None or self._last_t is None:
            self._ema = raw
        else:
            dt = max(t - self._last_t, 0.0)
            alpha = 1.0 - math.exp(-dt / self.tau_s)
            self._ema += alpha * (raw - self._ema)
        self._last_t = t
        a = self._ema
        if gated:
            state = ArousalState.ACTIVE
        elif settling:
            state = ArousalState.SETTLING
        elif a >= self.high_a:
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
            settling=settling,
            exertion=exertion,
            baseline_minutes=baseline_minutes,
            warmup_fraction=warmup_fraction,
        )


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """The exercise gate's verdict on one fast window."""

    active: bool
    """Physical work: state ``active``, no episode, no baseline sample."""
    exertion: bool
    """HR in the range of physical work, not yet sustained long enough to decide (no motion data)."""


@dataclass(slots=True)
class ExerciseGate:
    """Exercise is not arousal: decide, every fast window, whether the window is physical work.

    With motion from the strap (``motion_active`` not None) motion decides: a moving window is active.
    Without motion data only sustained physical work is gated: the 60 s HR at least ``work_above_bpm`` (35)
    above the person's own baseline for ``work_hold_s`` (3 minutes) without a break. Until then such a window
    is only marked ``exertion`` (an episode's onset waits for the verdict); a spike of minutes -- a rise of
    +25 bpm that falls back -- never reaches the gate. During warm-up the comparison is with the person's
    provisional baseline (after 5 minutes of data); before that, and never, with the population HR: without a
    baseline of their own nothing is gated by HR.

    Once active, the gate holds until the 60 s HR is back within ``recover_within_bpm`` (10) of the baseline
    and then for ``recover_hold_s`` (5 minutes) more, at most ``max_recover_s`` (20 minutes) after the work
    (or the motion) ended: heart rate and HRV take minutes to come back after exercise.
    """

    work_above_bpm: float = 35.0
    work_hold_s: float = 180.0
    recover_within_bpm: float = 10.0
    recover_hold_s: float = 300.0
    max_recover_s: float = 1200.0
    active: bool = False
    _work_since: float | None = None
    _recover_since: float | None = None
    _work_ended: float | None = None

    def reset(self) -> None:
        self._work_since = None

    def update(
        self,
        t: float,
        *,
        hr_bpm: float,
        baseline_hr_bpm: float | None,
        motion_active: bool | None = None,
    ) -> GateVerdict:
        """The verdict on the window at ``t``; ``baseline_hr_bpm`` None: no baseline of the person's own yet."""
        exertion = False
        if motion_active is not None:
            trigger = motion_active
            self._work_since = None
        elif baseline_hr_bpm is None:
            trigger = False
            self._work_since = None
        elif hr_bpm >= baseline_hr_bpm + self.work_above_bpm:
            if self._work_since is None:
                self._work_since = t
            trigger = t - self._work_since >= self.work_hold_s
            exertion = not trigger and not self.active
        else:
            trigger = False
            self._work_since = None
        if trigger:
            self.active = True
            self._recover_since = None
            self._work_ended = None
        elif self.active:
            if self._work_ended is None:
                self._work_ended = t
            near = baseline_hr_bpm is None or hr_bpm <= baseline_hr_bpm + self.recover_within_bpm
            if near:
                if self._recover_since is None:
                    self._recover_since = t
            else:
                self._recover_since = None
            done = self._recover_since is not None and t - self._recover_since >= self.recover_hold_s
            if done or t - self._work_ended >= self.max_recover_s:
                self.active = False
                self._recover_since = None
                self._work_ended = None
        return GateVerdict(active=self.active, exertion=exertion)
