"""Prompt outcome: did arousal come down after a prompt, and more than when no prompt was sent?

The change: the window 60-180 s after a moment against the 120 s before it -- ln RMSSD, HR, score and A
(the arousal composite in baseline SDs). The same change is measured after every *control*: a moment at
which the policy would have prompted but held the prompt back at random (``[policy] control_probability``),
or, while there are fewer than :data:`MIN_CONTROLS` of those, an unprompted stretch at the same point of an
episode (its onset detection, when a prompt was not allowed by cooldown, hourly cap, quiet hours or snooze).

Two verdicts, never mixed up:

* **came down after** (:func:`came_down`): ln RMSSD rose by more than half the person's resting SD and HR
  fell by at least 2 bpm. Arousal near an episode's top falls anyway (regression to the mean), so this says
  nothing about the prompt by itself.
* **helped** (:func:`compare_with_references`): the prompt's change is better than the person's controls':
  it came down after, and its change in A is among the best fifth against the reference moments (a
  conformal rank test: ``(1 + #references at least as good) / (n + 1) <= 0.2``, so a prompt that does
  nothing is called helped at most 20 % of the time whatever the person's course), or, with 1-3 references,
  A fell by at least :data:`SMALL_N_MARGIN_A` (0.75 SD) more than at every one of them. Without any reference the
  verdict is unknown (None). ``helped_basis`` says which references were used.

During paced breathing RMSSD and LF/HF are driven by the breathing itself, so for a paced-breathing
prompt the outcome also reports the heart-rate oscillation at the breathing frequency (about 0.1 Hz for
six breaths a minute; Lehrer & Gevirtz, Front Psychol 2014;5:756): its frequency, its peak-to-trough
amplitude in bpm and its share of the total HR power (a coherence-like index).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

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


MIN_CONTROLS = 5
"""Held-back controls needed before a prompt is judged against them alone."""
CONFORMAL_ALPHA = 0.2
"""A prompt "helped" when its rank p-value against the references is at most this."""
SMALL_N_MARGIN_A = 0.75
"""With 1-3 references: how much more A (baseline SDs) must fall after the prompt than after each of them."""


class HelpedBasis(StrEnum):
    """What a prompt's ``helped`` was judged against."""

    CONTROLS = "controls"
    """At least :data:`MIN_CONTROLS` moments held back at random."""
    MATCHED = "matched stretches"
    """Fewer controls: the held-back moments plus unprompted episode onsets."""
    NONE = "none yet"
    """Nothing to compare with yet: ``helped`` is unknown."""


class Stage(StrEnum):
    """Which decision of an episode a prompt or control belongs to."""

    ONSET = "onset"
    """The episode's first prompt decision (its onset detection)."""
    ESCALATION = "escalation"
    """The second prompt decision, when arousal is still high some minutes after the first prompt."""


class ControlBasis(StrEnum):
    """Why no prompt was sent at a reference moment."""

    HELD_BACK = "held back"
    """The policy would have prompted and held the prompt back at random (a randomised control)."""
    MATCHED = "matched stretch"
    """An episode onset at which the policy could not prompt (cooldown, hourly cap, quiet hours, snooze)."""


@dataclass(frozen=True, slots=True)
class OutcomeChange:
    """The change from the ``before`` to the ``after`` window around one moment (after minus before)."""

    d_ln_rmssd: float
    d_hr_bpm: float
    d_score: float
    d_a: float
    """Change of the arousal composite A, in baseline SDs (negative: calmer)."""
    n_before: int
    n_after: int

    @property
    def complete(self) -> bool:
        return math.isfinite(self.d_a) and math.isfinite(self.d_hr_bpm) and math.isfinite(self.d_ln_rmssd)


@dataclass(frozen=True, slots=True)
class Verdict:
    helped: bool | None
    basis: HelpedBasis
    n_reference: int
    p_value: float = NAN
    """The conformal rank p-value (NaN with fewer than 4 references)."""
    n_held_back: int = 0
    """How many of the references were held back at random (the rest: matched stretches)."""


@dataclass(frozen=True, slots=True)
class PromptOutcome:
    prompt_id: str
    t: float
    d_ln_rmssd: float
    d_hr_bpm: float
    d_score: float
    helped: bool | None
    """Better than the person's controls (see :func:`compare_with_references`); None: nothing to compare."""
    n_before: int
    n_after: int
    oscillation: HrOscillation | None = None
    """For a paced-breathing prompt: the HR oscillation while breathing along (else None)."""
    came_down: bool | None = None
    """The raw verdict: ln RMSSD up and HR down after the prompt (see :func:`came_down`)."""
    d_a: float = NAN
    helped_basis: HelpedBasis = HelpedBasis.NONE
    n_reference: int = 0
    stage: Stage = Stage.ONSET
    n_held_back: int = 0
    """How many of the ``n_reference`` moments were held back at random (the rest: matched stretches)."""


@dataclass(frozen=True, slots=True)
class ControlMoment:
    """A moment without a prompt that serves as a reference: held back at random, or a matched stretch."""

    id: str
    user: str
    t: float
    stage: Stage
    basis: ControlBasis
    episode_id: str | None = None
    score: float = NAN
    """The arousal score at the moment."""


@dataclass(frozen=True, slots=True)
class ControlOutcome:
    """The change after a control moment (same windows as a prompt's outcome)."""

    moment: ControlMoment
    t: float
    """When the outcome window ended."""
    change: OutcomeChange
    a_at: float = NAN
    """A at the moment (matched stretches are compared only with prompts at a similar A)."""


def _mean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def measure_change(
    t: float,
    samples: Sequence[Arousal],
    *,
    before_s: float = 120.0,
    after_start_s: float = 60.0,
    after_end_s: float = 180.0,
) -> OutcomeChange:
    """The change around the moment ``t`` from the arousal samples (pure; NaN where a window is empty)."""
    before = [s for s in samples if t - before_s <= s.t < t]
    after = [s for s in samples if t + after_start_s <= s.t <= t + after_end_s]

    def ln(x: float) -> float:
        return math.log(x) if x > 0 else float("nan")

    return OutcomeChange(
        d_ln_rmssd=_mean([ln(s.rmssd_ms) for s in after]) - _mean([ln(s.rmssd_ms) for s in before]),
        d_hr_bpm=_mean([s.hr_bpm for s in after]) - _mean([s.hr_bpm for s in before]),
        d_score=_mean([s.score for s in after]) - _mean([s.score for s in before]),
        d_a=_mean([s.a for s in after]) - _mean([s.a for s in before]),
        n_before=len(before),
        n_after=len(after),
    )


def came_down(change: OutcomeChange, *, resting_ln_rmssd_sd: float, min_hr_drop_bpm: float = 2.0) -> bool:
    """ln RMSSD rose by more than half the resting SD and HR fell by at least ``min_hr_drop_bpm``."""
    return (
        math.isfinite(change.d_ln_rmssd)
        and math.isfinite(change.d_hr_bpm)
        and change.d_ln_rmssd > 0.5 * resting_ln_rmssd_sd
        and change.d_hr_bpm <= -min_hr_drop_bpm
    )


def compare_with_references(
    d_a: float,
    came_down_after: bool,
    *,
    controls_d_a: Sequence[float] | npt.NDArray[np.float64],
    matched_d_a: Sequence[float] | npt.NDArray[np.float64] = (),
    min_controls: int = MIN_CONTROLS,
    alpha: float = CONFORMAL_ALPHA,
    margin_a: float = SMALL_N_MARGIN_A,
) -> Verdict:
    """Did a prompt whose A changed by ``d_a`` do better than the person's reference moments?

    References: the controls' changes of A when there are ``min_controls`` or more, else the controls and
    the matched stretches together. With ``n >= 1/alpha - 1`` references (4 at 0.2) the prompt helped when it
    came down after and ``(1 + #{references with a change <= d_a}) / (n + 1) <= alpha``; with fewer, when it
    came down after and A fell by at least ``margin_a`` more than at every reference. No reference (or a
    non-finite ``d_a``): unknown.
    """
    ctl = np.asarray(controls_d_a, dtype=np.float64)
    ctl = ctl[np.isfinite(ctl)]
    if ctl.size >= min_controls:
        refs, basis = ctl, HelpedBasis.CONTROLS
    else:
        matched = np.asarray(matched_d_a, dtype=np.float64)
        refs = np.concatenate([ctl, matched[np.isfinite(matched)]])
        basis = HelpedBasis.MATCHED
    n = int(refs.size)
    held = min(int(ctl.size), n)
    if n == 0 or not math.isfinite(d_a):
        return Verdict(None, HelpedBasis.NONE, n, n_held_back=held)
    if n + 1 >= round(1.0 / alpha):
        p = (1.0 + float(np.count_nonzero(refs <= d_a))) / (n + 1.0)
        return Verdict(came_down_after and p <= alpha, basis, n, p, held)
    return Verdict(came_down_after and d_a <= float(refs.min()) - margin_a, basis, n, n_held_back=held)


def measure_outcome(
    prompt_id: str,
    prompt_t: float,
    samples: Sequence[Arousal],
    *,
    resting_ln_rmssd_sd: float,
    controls_d_a: Sequence[float] | npt.NDArray[np.float64] = (),
    matched_d_a: Sequence[float] | npt.NDArray[np.float64] = (),
    before_s: float = 120.0,
    after_start_s: float = 60.0,
    after_end_s: float = 180.0,
    min_hr_drop_bpm: float = 2.0,
    oscillation: HrOscillation | None = None,
    stage: Stage = Stage.ONSET,
) -> PromptOutcome:
    """Outcome of one prompt from the arousal samples around it, judged against the references (pure)."""
    ch = measure_change(
        prompt_t, samples, before_s=before_s, after_start_s=after_start_s, after_end_s=after_end_s
    )
    down = came_down(ch, resting_ln_rmssd_sd=resting_ln_rmssd_sd, min_hr_drop_bpm=min_hr_drop_bpm)
    v = compare_with_references(ch.d_a, down, controls_d_a=controls_d_a, matched_d_a=matched_d_a)
    return PromptOutcome(
        prompt_id,
        prompt_t + after_end_s,
        ch.d_ln_rmssd,
        ch.d_hr_bpm,
        ch.d_score,
        v.helped,
        ch.n_before,
        ch.n_after,
        oscillation,
        came_down=down,
        d_a=ch.d_a,
        helped_basis=v.basis,
        n_reference=v.n_reference,
        stage=stage,
        n_held_back=v.n_held_back,
    )
