"""Streaming acceptance scenarios with the simulated strap, driven straight into StreamProcessor."""

from __future__ import annotations

import numpy as np
import pytest

from processing.arousal import Arousal, ExerciseGate
from processing.episodes import Episode
from processing.stream import Channel, StreamConfig, StreamProcessor, WindowResult
from sensors.beats import Gap, GapReason
from sensors.simulated import RRGenerator, ScriptedEpisode, SimulatedSegment
from tests.processing.conftest import T0, drive

HOUR = 3600.0


def _proc() -> StreamProcessor:
    return StreamProcessor("u", "sim", StreamConfig(utc_offset_s=0.0))


def test_simulated_day_yields_the_three_scripted_episodes() -> None:
    """10 simulated hours (08:00-18:00) with three scripted episodes: exactly three, onsets within 90 s, none in calm hours.

    Ten hours instead of a full day keeps the test a few seconds long; the calm hours between episodes
    are the part that matters (the model has no circadian change).
    """
    script = (
        ScriptedEpisode(2 * HOUR),
        ScriptedEpisode(5 * HOUR, intensity=0.8),
        ScriptedEpisode(8 * HOUR, plateau_s=240.0),
    )
    out = drive(RRGenerator(seed=11, episodes=script), 10 * HOUR, _proc())
    episodes = [o for o in out if isinstance(o, Episode)]
    assert len(episodes) == 3
    for ep, sc in zip(episodes, script, strict=True):
        assert abs(ep.onset_t - (T0 + sc.start_s)) <= 90.0
    calm = [
        o
        for o in out
        if isinstance(o, Arousal)
        and not o.warming_up
        and all(not (-60 < o.t - T0 - s.start_s < 900) for s in script)
    ]
    assert len(calm) > 4000
    assert max(a.a for a in calm) < 1.5


def _jog(gate: ExerciseGate | None, seed: int = 3) -> list[object]:
    proc = _proc()
    if gate is not None:
        proc._gate = gate
    gen = RRGenerator(seed=seed, exercise=(SimulatedSegment(start_s=0.5 * HOUR, duration_s=1200.0),))
    return drive(gen, 1.5 * HOUR, proc)


def test_twenty_minute_jog_yields_no_episode() -> None:
    """A 20-minute jog (HR +60 bpm) after a calm half hour yields no episode; its windows are ``active``."""
    out = _jog(None)
    assert not [o for o in out if isinstance(o, Episode)]
    gated = [o.t - T0 for o in out if isinstance(o, Arousal) and o.gated]
    assert gated and min(gated) < 0.5 * HOUR + 360.0  # gated once sustained: 3 minutes far above baseline
    assert max(gated) > 0.5 * HOUR + 1200.0 + 300.0  # and held for the recovery + 5 min


def test_jog_without_exercise_rules_would_be_an_episode() -> None:
    """Control: with the RR-only exercise rules disabled the same jog is taken for arousal."""
    out = _jog(ExerciseGate(work_above_bpm=1e9))
    assert [o for o in out if isinstance(o, Episode)]


def test_motion_input_gates_exercise() -> None:
    """With motion from the strap, moving seconds gate arousal even when HR stays modest."""
    proc = _proc()
    gen = RRGenerator(
        seed=5, exercise=(SimulatedSegment(start_s=1200.0, duration_s=600.0, hr_rise_bpm=25.0),)
    )
    out: list[object] = []
    from sensors.beats import Beat

    while gen.t_s < 2400.0:
        t_s, rr, _ = gen.next_rr()
        t = T0 + t_s
        if int(t_s) != int(t_s - rr / 1000.0):  # once per simulated second
            proc.motion(t, 0.8 if 1200.0 <= t_s < 1800.0 else 0.05)
        out.extend(proc.push(Beat(t, rr, "sim", "u")))
    gated = [o.t - T0 for o in out if isinstance(o, Arousal) and o.gated]
    assert gated and min(gated) < 1210.0
    assert not [o for o in out if isinstance(o, Episode)]


def _with_motion(turn_at_s: float | None, duration_s: float = 2400.0) -> list[object]:
    """A calm strap wearer with accelerometer data; at ``turn_at_s`` the trunk tilts 45° (a posture change)."""
    from sensors.beats import Beat

    proc = _proc()
    gen = RRGenerator(seed=6)
    out: list[object] = []
    while gen.t_s < duration_s:
        t_s, rr, _ = gen.next_rr()
        t = T0 + t_s
        if int(t_s) != int(t_s - rr / 1000.0):  # once per simulated second
            tilted = turn_at_s is not None and t_s >= turn_at_s
            proc.motion(t, 0.02, (0.0, -707.0, 707.0) if tilted else (0.0, -1000.0, 0.0))
        out.extend(proc.push(Beat(t, rr, "sim", "u")))
    return out


def test_posture_change_starts_two_minutes_of_settling() -> None:
    """A 45° turn of the gravity vector marks about two minutes ``settling``; no settling without a turn."""
    out = _with_motion(2100.0)
    settling = [o.t - T0 for o in out if isinstance(o, Arousal) and o.settling]
    assert settling and 2100.0 <= min(settling) < 2110.0 and 2210.0 < max(settling) <= 2221.0
    assert all(o.state.value == "settling" for o in out if isinstance(o, Arousal) and o.settling)
    assert not [o for o in _with_motion(None) if isinstance(o, Arousal) and o.settling]


def test_active_time_is_counted() -> None:
    """The processor counts the time judged physical work (the summary's "time active")."""
    proc = _proc()
    gen = RRGenerator(seed=3, exercise=(SimulatedSegment(start_s=0.5 * HOUR, duration_s=1200.0),))
    drive(gen, 1.5 * HOUR, proc)
    assert 1200.0 < proc.active_s < 2400.0


def test_fast_and_slow_channels_cadence() -> None:
    """Fast windows every 5 s (60 s long), slow windows every 30 s (300 s long) with the full feature set."""
    out = drive(RRGenerator(seed=1), 1200.0, _proc())
    fast = [o.window for o in out if isinstance(o, WindowResult) and o.channel is Channel.FAST]
    slow = [o.window for o in out if isinstance(o, WindowResult) and o.channel is Channel.SLOW]
    assert np.median(np.diff([w.t for w in fast])) == pytest.approx(5.0, abs=1.0)
    assert np.median(np.diff([w.t for w in slow])) == pytest.approx(30.0, abs=1.0)
    assert all(w.window_s == 60.0 for w in fast) and all(w.window_s == 300.0 for w in slow)
    assert all(np.isfinite(w.lf_ms2) and np.isfinite(w.dfa_a1) for w in slow)
    assert all(np.isfinite(w.resp_rate_bpm) for w in slow)


def test_windows_never_span_a_gap() -> None:
    """After a gap no window is emitted until a full fast window of new beats exists."""
    proc = _proc()
    drive(RRGenerator(seed=2), 600.0, proc)
    last = proc.last_t
    proc.gap(Gap(last, last + 120.0, "sim", "u", GapReason.SILENCE))
    out = drive(RRGenerator(seed=3), 300.0, proc, start_t=last + 120.0)
    fast = [o.window for o in out if isinstance(o, WindowResult) and o.channel is Channel.FAST]
    assert fast and min(w.t for w in fast) >= last + 120.0 + 60.0
    slow = [o.window for o in out if isinstance(o, WindowResult) and o.channel is Channel.SLOW]
    assert all(w.t >= last + 120.0 + 300.0 for w in slow)


def test_memory_stays_bounded() -> None:
    """Beat buffers keep their preallocated size over three hours; the state stays under 200 KB."""
    proc = _proc()
    size = proc._t.size
    drive(RRGenerator(seed=4), 3 * HOUR, proc)
    assert proc._t.size == size and proc._rr.size == size
    assert proc.nbytes < 200_000


def test_artifact_heavy_window_is_invalid_and_not_scored() -> None:
    """A fast window with more than 5 % artifacts is marked invalid and produces no arousal."""
    from sensors.beats import Beat

    proc = _proc()
    gen = RRGenerator(seed=6)
    outs: list[object] = []
    i = 0
    while gen.t_s < 400.0:
        t_s, rr, _ = gen.next_rr()
        i += 1
        if t_s > 300.0 and i % 8 == 0:
            rr = 2500.0  # impossible interval every 8th beat: 12 % artifacts
        outs.extend(proc.push(Beat(T0 + t_s, rr, "sim", "u")))
    late = [
        o.window
        for o in outs
        if isinstance(o, WindowResult) and o.channel is Channel.FAST and o.window.t > T0 + 370
    ]
    assert late and all(not w.valid and w.artifact_pct > 5.0 for w in late)
    assert not [o for o in outs if isinstance(o, Arousal) and o.t > T0 + 370]
