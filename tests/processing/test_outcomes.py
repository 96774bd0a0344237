"""Prompt outcomes (issue 4, point 7) and the paced-breathing HR oscillation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processing.arousal import Arousal, ArousalState
from processing.outcomes import hr_oscillation, measure_outcome
from processing.stream import StreamConfig, StreamProcessor
from sensors.simulated import RRGenerator
from tests.processing.conftest import T0, drive


def _rr_from_hr(duration_s: float, hr: object) -> np.ndarray:
    out, t = [], 0.0
    while t < duration_s:
        rr = 60000.0 / hr(t)  # type: ignore[operator]
        out.append(rr)
        t += rr / 1000.0
    return np.asarray(out)


def test_hr_oscillation_amplitude_and_frequency() -> None:
    """HR = 70 ± 5 bpm at 0.1 Hz reads as 10 bpm peak-to-trough (within 10 %) at 0.1 Hz (within 1/90 Hz)."""
    rr = _rr_from_hr(90.0, lambda t: 70.0 + 5.0 * math.sin(2 * math.pi * 0.1 * t))
    osc = hr_oscillation(rr, target_hz=0.1)
    assert osc.amplitude_bpm == pytest.approx(10.0, rel=0.10)
    assert osc.freq_hz == pytest.approx(0.1, abs=1 / 90)
    assert osc.power_share > 0.8


def test_hr_oscillation_small_without_paced_rhythm() -> None:
    """Fast breathing (0.25 Hz) leaves little power near 0.1 Hz."""
    rr = _rr_from_hr(90.0, lambda t: 70.0 + 5.0 * math.sin(2 * math.pi * 0.25 * t))
    assert hr_oscillation(rr, target_hz=0.1).power_share < 0.1


def _samples(t0: float, n: int, hr: float, rmssd: float) -> list[Arousal]:
    return [
        Arousal(t0 + 5 * i, 60.0, 0.3, 0, 0, ArousalState.CALM, False, False, hr, rmssd) for i in range(n)
    ]


def test_came_down_needs_rmssd_rise_and_hr_drop() -> None:
    """Came down after: ln RMSSD up by more than half the resting SD and HR down by at least 2 bpm."""
    before = _samples(-120.0, 24, 80.0, 30.0)
    good = before + _samples(60.0, 25, 76.0, 30.0 * math.exp(0.2))
    hr_only = before + _samples(60.0, 25, 76.0, 30.0 * math.exp(0.05))
    assert measure_outcome("p", 0.0, good, resting_ln_rmssd_sd=0.3).came_down
    assert not measure_outcome("p", 0.0, hr_only, resting_ln_rmssd_sd=0.3).came_down


def test_no_reference_leaves_helped_unknown() -> None:
    """Without any control or matched stretch, a prompt that came down is not called helped: unknown."""
    before = _samples(-120.0, 24, 80.0, 30.0)
    good = before + _samples(60.0, 25, 76.0, 30.0 * math.exp(0.2))
    o = measure_outcome("p", 0.0, good, resting_ln_rmssd_sd=0.3)
    assert o.helped is None and o.helped_basis == "none yet" and o.n_reference == 0


def test_paced_prompt_outcome_carries_oscillation() -> None:
    """A paced-breathing prompt's outcome reports the HR oscillation; another prompt's does not."""
    proc = StreamProcessor("u", "sim", StreamConfig(utc_offset_s=0.0))
    gen = RRGenerator(seed=3)
    drive(gen, 600.0, proc)
    proc.note_prompt("paced", proc.last_t, paced_breath_hz=0.1)
    proc.note_prompt("plain", proc.last_t)
    from processing.outcomes import PromptOutcome

    outs = [o for o in drive(gen, 300.0, proc, start_t=T0) if isinstance(o, PromptOutcome)]
    by_id = {o.prompt_id: o for o in outs}
    assert by_id["paced"].oscillation is not None and math.isfinite(by_id["paced"].oscillation.amplitude_bpm)
    assert by_id["plain"].oscillation is None
