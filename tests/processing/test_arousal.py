"""Arousal score, its states, and the exercise gate (issue 10, point 3)."""

from __future__ import annotations

import math

import pytest

from processing.arousal import (
    ArousalScorer,
    ArousalState,
    BaselineStats,
    ExerciseGate,
    GateVerdict,
    score_from_a,
)

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


def test_gated_window_is_active_and_keeps_its_score() -> None:
    """A gated window is state ``active``; its score is still computed (never a made-up 50)."""
    x = ArousalScorer().update(0.0, 100.0, 10.0, BASE, warming_up=False, gated=True)
    assert x.gated and x.state is ArousalState.ACTIVE and x.z_hr == pytest.approx(8.0) and x.score > 99.0


def test_settling_window_is_its_own_state() -> None:
    """A window in the settling period after a posture change is state ``settling``."""
    x = ArousalScorer().update(0.0, 75.0, 30.0, BASE, warming_up=False, settling=True)
    assert x.settling and x.state is ArousalState.SETTLING


def _feed(g: ExerciseGate, hr_of_t: object, until_s: float, base: float | None = 60.0) -> list[GateVerdict]:
    assert callable(hr_of_t)
    return [g.update(float(t), hr_bpm=hr_of_t(t), baseline_hr_bpm=base) for t in range(0, int(until_s), 5)]


def test_sustained_work_far_above_baseline_is_active_after_three_minutes() -> None:
    """HR at baseline + 40 is ``exertion`` (undecided) for 3 minutes, then active."""
    v = _feed(ExerciseGate(), lambda t: 100.0, 400)
    assert v[0].exertion and not v[0].active
    assert all(x.exertion and not x.active for x in v[: 180 // 5])
    assert all(x.active and not x.exertion for x in v[180 // 5 :])


def test_a_spike_of_minutes_is_never_gated() -> None:
    """+25 bpm held for minutes is below the work threshold: never active, never exertion."""
    v = _feed(ExerciseGate(), lambda t: 85.0, 900)
    assert not any(x.active or x.exertion for x in v)


def test_a_short_burst_above_the_threshold_is_not_work() -> None:
    """Two minutes at +40 then back: exertion while it lasted, never active."""
    v = _feed(ExerciseGate(), lambda t: 100.0 if t < 120 else 70.0, 600)
    assert any(x.exertion for x in v) and not any(x.active for x in v)


def test_active_holds_until_recovered_plus_five_minutes() -> None:
    """After work, active holds until HR is within 10 bpm of baseline, then 5 minutes more."""
    g = ExerciseGate()
    _feed(g, lambda t: 110.0, 300)
    assert g.update(400.0, hr_bpm=80.0, baseline_hr_bpm=60.0).active  # still recovering
    assert g.update(500.0, hr_bpm=68.0, baseline_hr_bpm=60.0).active  # within 10: the hold starts
    assert g.update(795.0, hr_bpm=66.0, baseline_hr_bpm=60.0).active
    assert not g.update(800.0, hr_bpm=65.0, baseline_hr_bpm=60.0).active


def test_without_a_baseline_of_their_own_nothing_is_gated_by_hr() -> None:
    """No personal or provisional baseline yet: HR alone never gates (no population HR)."""
    v = _feed(ExerciseGate(), lambda t: 140.0, 900, base=None)
    assert not any(x.active or x.exertion for x in v)


def test_motion_decides_when_available() -> None:
    """With motion data, motion gates even at resting HR, and HR alone does not."""
    g = ExerciseGate()
    assert g.update(0.0, hr_bpm=62, baseline_hr_bpm=60, motion_active=True).active
    g2 = ExerciseGate()
    v = [g2.update(float(t), hr_bpm=130, baseline_hr_bpm=60, motion_active=False) for t in range(0, 900, 5)]
    assert not any(x.active or x.exertion for x in v)
