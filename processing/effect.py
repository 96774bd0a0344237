"""The effect of prompting: prompted changes against control changes, with a confidence interval.

Within-person micro-randomised design (as in HeartSteps; Klasnja et al., Health Psychol 2015;34S:1220):
at each moment the policy would prompt, the prompt is held back at random; the effect of prompting on an
outcome (the change from the 120 s before the moment to 60-180 s after it) is the mean change after
prompts minus the mean change after controls. The interval is Welch's t interval for a difference of two
means with unequal variances (Welch-Satterthwaite degrees of freedom), the standard choice when the two
groups differ in size and spread; it is NaN when either group has fewer than two finite values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

NAN = float("nan")

Values = Sequence[float] | npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Difference:
    """Mean of the prompted group minus mean of the control group, with its confidence interval."""

    diff: float
    ci_low: float
    ci_high: float
    n_prompted: int
    n_control: int
    confidence: float = 0.95

    @property
    def known(self) -> bool:
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)


@dataclass(frozen=True, slots=True)
class PromptEffect:
    """The effect of prompting on each outcome (prompted minus control; negative HR and A mean calmer)."""

    d_hr_bpm: Difference
    d_ln_rmssd: Difference
    d_score: Difference
    d_a: Difference


def _finite(x: Values) -> npt.NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    return a[np.isfinite(a)]


def welch_difference(prompted: Values, control: Values, *, confidence: float = 0.95) -> Difference:
    """Mean(prompted) - mean(control) with Welch's t interval (NaN bounds below two values per group)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    p, c = _finite(prompted), _finite(control)
    if p.size == 0 or c.size == 0:
        return Difference(NAN, NAN, NAN, int(p.size), int(c.size), confidence)
    diff = float(p.mean() - c.mean())
    if p.size < 2 or c.size < 2:
        return Difference(diff, NAN, NAN, int(p.size), int(c.size), confidence)
    vp = float(p.var(ddof=1)) / p.size
    vc = float(c.var(ddof=1)) / c.size
    se = math.sqrt(vp + vc)
    if se == 0.0:
        return Difference(diff, diff, diff, int(p.size), int(c.size), confidence)
    dof = (vp + vc) ** 2 / (vp**2 / (p.size - 1) + vc**2 / (c.size - 1))
    from scipy import stats  # here, not at import: scipy.stats added about 0.5 s to every command's start-up

    q = float(stats.t.ppf(0.5 + confidence / 2.0, dof))
    return Difference(diff, diff - q * se, diff + q * se, int(p.size), int(c.size), confidence)


def prompt_effect(
    *,
    prompted_d_hr_bpm: Values,
    prompted_d_ln_rmssd: Values,
    prompted_d_score: Values,
    prompted_d_a: Values,
    control_d_hr_bpm: Values,
    control_d_ln_rmssd: Values,
    control_d_score: Values,
    control_d_a: Values,
    confidence: float = 0.95,
) -> PromptEffect:
    """The effect of prompting on ΔHR, Δln RMSSD, Δscore and ΔA (each prompted minus control)."""
    return PromptEffect(
        d_hr_bpm=welch_difference(prompted_d_hr_bpm, control_d_hr_bpm, confidence=confidence),
        d_ln_rmssd=welch_difference(prompted_d_ln_rmssd, control_d_ln_rmssd, confidence=confidence),
        d_score=welch_difference(prompted_d_score, control_d_score, confidence=confidence),
        d_a=welch_difference(prompted_d_a, control_d_a, confidence=confidence),
    )
