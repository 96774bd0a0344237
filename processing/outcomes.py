"""Prompt outcome: did arousal come down in the minutes after a prompt?

Compares the window ``after_s`` (60-180 s after the prompt) with the ``before_s`` (120 s) before it:
change in ln RMSSD, HR and score. "helped" when ln RMSSD rose by more than half the person's resting SD
of ln RMSSD and HR fell by at least 2 bpm.

During paced breathing RMSSD and LF/HF are driven by the breathing itself, so for a paced-breathing
prompt the outcome also reports the heart-rate oscillation at the breathing frequency (about 0.1 Hz for
six breaths a minute; Lehrer & Gevirtz, Front Psychol 2014;5:756): its frequency, its peak-to-trough
amplitude in bpm and its share of the total HR power (a coherence-like index).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from processing.arousal import Arousal
from processing.hrv import RRInput, as_rr_array, natural_cubic_spline, welch_psd

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class HrOscillation:
    """The heart-rate oscillation in a band around the paced breathing frequency."""

    freq_hz: float
    amplitude_bpm: float
    """Peak-to-trough amplitude of the oscillation (2·√(2·band power))."""
    power_share: float
    """Band power over total HR power 0.0033-0.4 Hz (0..1)."""


def hr_oscillation(
    rr_ms: RRInput,
    *,
    target_hz: float = 0.1,
    half_band_hz: float = 0.03,
    fs_hz: float = 4.0,
    min_duration_s: float = 40.0,
) -> HrOscillation:
    """HR oscillation near ``target_hz`` over a stretch of paced breathing (one Hann periodogram).

    Instantaneous HR (60000 / RR) at the beat times is resampled at ``fs_hz`` with a cubic spline, the
    linear trend removed, and the band ``target_hz ± half_band_hz`` integrated. NaN below
    ``min_duration_s`` of beats.
    """
    rr = as_rr_array(rr_ms)
    if rr.size < 8 or float(rr.sum()) / 1000.0 < min_duration_s:
        return HrOscillation(NAN, NAN, NAN)
    t = np.cumsum(rr) / 1000.0
    grid = np.arange(t[0], t[-1], 1.0 / fs_hz)
    hr: npt.NDArray[np.float64] = natural_cubic_spline(t, 60000.0 / rr, grid)
    freqs, psd = welch_psd(hr, fs_hz=fs_hz, segment_s=hr.size / fs_hz, overlap=0.0)
    if freqs.size < 2:
        return HrOscillation(NAN, NAN, NAN)
    df = float(freqs[1] - freqs[0])
    band = (freqs >= target_hz - half_band_hz) & (freqs <= target_hz + half_band_hz)
    total = (freqs >= 0.0033) & (freqs < 0.4)
    p_band = float(psd[band].sum() * df)
    p_total = float(psd[total].sum() * df)
    if not np.any(band) or p_total <= 0:
        return HrOscillation(NAN, NAN, NAN)
    peak = float(freqs[band][int(np.argmax(psd[band]))])
    return HrOscillation(peak, 2.0 * float(np.sqrt(2.0 * p_band)), p_band / p_total)


@dataclass(frozen=True, slots=True)
class PromptOutcome:
    prompt_id: str
    t: float
    d_ln_rmssd: float
    d_hr_bpm: float
    d_score: float
    helped: bool
    n_before: int
    n_after: int
    oscillation: HrOscillation | None = None
    """For a paced-breathing prompt: the HR oscillation while breathing along (else None)."""


def _mean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def measure_outcome(
    prompt_id: str,
    prompt_t: float,
    samples: Sequence[Arousal],
    *,
    resting_ln_rmssd_sd: float,
    before_s: float = 120.0,
    after_start_s: float = 60.0,
    after_end_s: float = 180.0,
    min_hr_drop_bpm: float = 2.0,
    oscillation: HrOscillation | None = None,
) -> PromptOutcome:
    """Outcome of one prompt from the arousal samples around it (pure)."""
    before = [s for s in samples if prompt_t - before_s <= s.t < prompt_t]
    after = [s for s in samples if prompt_t + after_start_s <= s.t <= prompt_t + after_end_s]

    def ln(x: float) -> float:
        return math.log(x) if x > 0 else float("nan")

    d_lr = _mean([ln(s.rmssd_ms) for s in after]) - _mean([ln(s.rmssd_ms) for s in before])
    d_hr = _mean([s.hr_bpm for s in after]) - _mean([s.hr_bpm for s in before])
    d_score = _mean([s.score for s in after]) - _mean([s.score for s in before])
    helped = (
        math.isfinite(d_lr)
        and math.isfinite(d_hr)
        and d_lr > 0.5 * resting_ln_rmssd_sd
        and d_hr <= -min_hr_drop_bpm
    )
    return PromptOutcome(
        prompt_id, prompt_t + after_end_s, d_lr, d_hr, d_score, helped, len(before), len(after), oscillation
    )
