"""Prompt outcome: did arousal come down in the minutes after a prompt?

Compares the window ``after_s`` (60-180 s after the prompt) with the ``before_s`` (120 s) before it:
change in ln RMSSD, HR and score. "helped" when ln RMSSD rose by more than half the person's resting SD
of ln RMSSD and HR fell by at least 2 bpm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from processing.arousal import Arousal


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
        prompt_id, prompt_t + after_end_s, d_lr, d_hr, d_score, helped, len(before), len(after)
    )
