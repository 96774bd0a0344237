"""Arousal score and the exercise gate (issue 4, point 5)."""

from __future__ import annotations

import math

import pytest

from processing.arousal import ArousalScorer, ArousalState, BaselineStats, ExerciseGate, score_from_a

BASE = BaselineStats(
    hr_bpm=60.0, hr_sd=5.0, ln_rmssd=math.log(50.0), ln_rmssd_sd=0.25, n_windows=100, source="personal"
)


def test_score_is_hundred_phi_of_a() -> None:
    """score = 100·Φ(A): A = 0 is 50, A = 1.5 is 93.3."""
    assert score_from_a(0.0) == pytest.approx(50.0)
    assert score_from_a(1.5) == pytest.approx(93.3193, abs=1e-3)


def test_a_is_mean_of_z_hr_and_minus_z_ln_rmssd() -> None:
    """First sample: A = (z(HR) - z(ln RMSSD)) / 2 against the baseline, state from the thresholds."""
    x = ArousalScorer().update(0.0, 70.0, 50.0 * math.exp(-0.5), BASE, warming_up=False)
    assert x.z_hr == pytest.approx(2.0) and x.z_ln_rmssd == pytest.approx(-2.0)
    assert x.a == pytest.approx(2.0) and x.state is ArousalState.HIGH


def test_ema_time_constant() -> None:
    """After a step, the smoothed A reaches 1 - 1/e of it after τ = 20 s."""
    s = ArousalScorer(tau_s=20.0)
    s.update(0.0, 60.0, 50.0, BASE, warming_up=False)
    x = s.update(20.0, 70.0, 50.0, BASE, warming_up=False)
    assert x.a == pytest.approx(1.0 * (1 - math.exp(-1)))


def test_gated_window_is_marked_and_suppressed() -> None:
    """A gated window keeps its z components but A is 0 and the state calm."""
    x = ArousalScorer().update(0.0, 100.0, 10.0, BASE, warming_up=False, gated=True)
    assert x.gated and x.a == 0.0 and x.state is ArousalState.CALM and x.z_hr == pytest.approx(8.0)


def _never() -> float:
    raise AssertionError("breathing rate not needed")


def test_gate_triggers_above_baseline_plus_30_and_holds_five_minutes() -> None:
    """HR > baseline + 30 gates; release only 5 min after HR is back within 10 bpm."""
    g = ExerciseGate()
    assert not g.update(0.0, hr_bpm=70, recent_hr_bpm=70, baseline_hr_bpm=60, breathing_per_min=_never)
    assert g.update(5.0, hr_bpm=85, recent_hr_bpm=91, baseline_hr_bpm=60, breathing_per_min=_never)
    assert g.update(100.0, hr_bpm=75, recent_hr_bpm=75, baseline_hr_bpm=60, breathing_per_min=lambda: 15.0)
    assert g.update(200.0, hr_bpm=69, recent_hr_bpm=69, baseline_hr_bpm=60, breathing_per_min=lambda: 15.0)
    assert g.update(495.0, hr_bpm=66, recent_hr_bpm=66, baseline_hr_bpm=60, breathing_per_min=lambda: 15.0)
    assert not g.update(
        500.0, hr_bpm=65, recent_hr_bpm=65, baseline_hr_bpm=60, breathing_per_min=lambda: 15.0
    )


def test_gate_fast_rise_needs_fast_breathing() -> None:
    """A 25 bpm rise within 60 s gates with breathing at 24/min, not at 14/min."""
    for br, expected in ((24.0, True), (14.0, False)):
        g = ExerciseGate()
        g.update(0.0, hr_bpm=65, recent_hr_bpm=65, baseline_hr_bpm=60, breathing_per_min=lambda br=br: br)
        got = g.update(
            40.0, hr_bpm=75, recent_hr_bpm=90 - 0.5, baseline_hr_bpm=60, breathing_per_min=lambda br=br: br
        )
        assert got is expected


def test_motion_decides_when_available() -> None:
    """With motion data, motion gates even at resting HR, and HR alone does not."""
    g = ExerciseGate()
    assert g.update(
        0.0, hr_bpm=62, recent_hr_bpm=62, baseline_hr_bpm=60, breathing_per_min=_never, motion_active=True
    )
    g2 = ExerciseGate()
    assert not g2.update(
        0.0, hr_bpm=95, recent_hr_bpm=95, baseline_hr_bpm=60, breathing_per_min=_never, motion_active=False
    )
