"""Arousal against the person's own baseline.

A = mean( z(HR), -z(ln RMSSD) ) with z against the personal baseline (median, robust SD), smoothed with an
exponential moving average (time constant ``tau_s``), score = 100 * Phi(A) (Phi: standard normal CDF).
States: calm below ``elevated_a``, elevated below ``high_a``, high above.
"""

from __future__ import annotations

import math
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
        raw = 0.0 if gated else 0.5 * (z_hr - z_lr)
        if self._ema is None or self._last_t is None:
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
