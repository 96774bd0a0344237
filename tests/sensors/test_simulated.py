"""Tests of the simulated strap: seeded determinism, strap-exact bytes, and the physiology it promises."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from sensors.heart_rate import parse_measurement
from sensors.simulated import (
    Notification,
    Practice,
    RRGenerator,
    ScriptedEpisode,
    SimulatedStrap,
    StrapModel,
    demo_script,
    notifications,
)
from sensors.source import BatteryLevel

SESSION_S = 1200.0  # the demo's default 20 simulated minutes


def _run(
    seed: int, episodes: tuple[ScriptedEpisode, ...] = (), duration_s: float = SESSION_S
) -> list[Notification]:
    return list(notifications(RRGenerator(seed=seed, episodes=episodes), duration_s=duration_s))


def _rr_ms(notes: list[Notification], start_s: float = 0.0, end_s: float = float("inf")) -> np.ndarray:
    """Decoded RR (ms) of the notifications sent in [start_s, end_s), through the real decoder."""
    return np.array([rr for n in notes if start_s <= n.t_s < end_s for rr in parse_measurement(n.data).rr_ms])


def _rmssd_ms(rr_ms: np.ndarray) -> float:
    """RMSSD (Task Force 1996) over successive differences, dropping those above 20 % of the beat.

    The 20 % rule removes the model's rare ectopic/missed beats, which would otherwise dominate a short window.
    """
    diffs = np.diff(rr_ms)
    keep = np.abs(diffs) < 0.2 * rr_ms[1:]
    return float(np.sqrt(np.mean(diffs[keep] ** 2)))


def test_same_seed_gives_the_same_bytes() -> None:
    """Two runs with one seed emit identical notification bytes and times."""
    script = demo_script(SESSION_S / 60)
    assert _run(7, script) == _run(7, script)


def test_different_seeds_give_different_bytes() -> None:
    """Runs with different seeds emit different notification bytes."""
    a = [n.data for n in _run(1, duration_s=300)]
    b = [n.data for n in _run(2, duration_s=300)]
    assert a != b


def test_every_notification_decodes_with_the_strap_decoder() -> None:
    """Every simulated notification is a valid 0x2A37 payload with contact detected."""
    for n in _run(3, demo_script(SESSION_S / 60)):
        m = parse_measurement(n.data)
        assert m.contact is True
        assert 30 <= m.hr_bpm <= 250


def test_about_one_notification_per_simulated_second() -> None:
    """A 20-minute run sends one notification per simulated second, about 1 s apart."""
    notes = _run(4)
    assert len(notes) == int(SESSION_S)
    gaps = np.diff([n.t_s for n in notes])
    assert np.all((gaps > 0.95) & (gaps < 1.05))


def test_beats_fill_the_simulated_time() -> None:
    """The RR values sent add up to the simulated duration (no beat lost or duplicated in packing)."""
    total_s = _rr_ms(_run(5)).sum() / 1000.0
    # the last beat may end after the last notification: at most one RR (< 2 s) is still pending
    assert SESSION_S - 2.0 <= total_s <= SESSION_S


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calm_mean_hr_is_near_the_model_rest_hr(seed: int) -> None:
    """Without episodes, 60000 / mean RR over 20 minutes is within 2.5 bpm of rest_hr_bpm.

    The model's slow HR walk has a 1.5 bpm spread and a 120 s time constant, so the mean of 20 minutes has a
    standard deviation of about sqrt(2 * 1.5**2 * 120 / 1200) = 0.67 bpm; 2.5 bpm is about 3.7 of those.
    """
    hr_bpm = 60000.0 / _rr_ms(_run(seed)).mean()
    assert abs(hr_bpm - StrapModel().rest_hr_bpm) <= 2.5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scripted_episode_raises_hr_and_lowers_rmssd(seed: int) -> None:
    """During the first demo episode's plateau HR is well above, and RMSSD well below, the calm level."""
    script = demo_script(SESSION_S / 60)
    first = script[0]
    notes = _run(seed, script)
    calm = _rr_ms(notes, 60.0, first.start_s)
    plateau_start = first.start_s + first.rise_s
    plateau = _rr_ms(notes, plateau_start, plateau_start + first.plateau_s)
    model = StrapModel()
    hr_rise = 60000.0 / plateau.mean() - 60000.0 / calm.mean()
    # the model adds arousal_hr_bpm (16) at full intensity; require at least half of it
    assert hr_rise >= 0.5 * model.arousal_hr_bpm
    # the model cuts RSA by 65 % and breathing speeds up; require RMSSD to fall by at least 40 %
    assert _rmssd_ms(plateau) <= 0.6 * _rmssd_ms(calm)


def test_stream_yields_the_generator_bytes_on_the_simulated_clock() -> None:
    """SimulatedStrap.stream at high speed yields the same bytes, stamped start_epoch + simulated time."""
    strap = SimulatedStrap(seed=9, speed=1e9, duration_s=30.0, start_epoch=1_000.0)

    async def collect() -> list[tuple[float, bytes]]:
        return [item async for item in strap.stream() if isinstance(item, tuple)]

    got = asyncio.run(collect())
    expected = list(notifications(strap.generator(), duration_s=30.0))
    assert [d for _, d in got] == [n.data for n in expected]
    assert [t for t, _ in got] == [1_000.0 + n.t_s for n in expected]


def test_no_beat_is_sent_before_it_has_ended() -> None:
    """Each notification carries only beats that ended by its send time, as a real strap does."""
    notes = _run(6, duration_s=300)
    ended_s = 0.0
    n_beats = 0
    for n in notes:
        m = parse_measurement(n.data)
        ended_s += sum(m.rr_ms) / 1000.0
        n_beats += len(m.rr_raw)
        # each RR is rounded to the nearest 1/1024 s tick when encoded: allow half a tick per beat so far
        assert ended_s <= n.t_s + n_beats * 0.5 / 1024


def _follow_run(seed: int, practice: Practice | None) -> list[Notification]:
    gen = RRGenerator(seed=seed, episodes=(ScriptedEpisode(start_s=300.0, plateau_s=300.0),))
    out: list[Notification] = []
    for n in notifications(gen, duration_s=900.0):
        if practice is not None and n.t_s >= practice.start_s and practice not in gen.practices:
            gen.follow(practice)
        out.append(n)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_following_a_prompt_settles_the_episode(seed: int) -> None:
    """A person who follows a prompt mid-episode has a lower HR two to four minutes later than one who does not."""
    practice = Practice(start_s=420.0, duration_s=120.0)
    hr_ignored = 60000.0 / _rr_ms(_follow_run(seed, None), 540.0, 660.0).mean()
    hr_followed = 60000.0 / _rr_ms(_follow_run(seed, practice), 540.0, 660.0).mean()
    assert hr_followed < hr_ignored - 5.0


def test_paced_breathing_prompt_slows_the_breathing_oscillation() -> None:
    """While pacing at 6 breaths/min the RR spectrum peaks at 0.1 Hz (rest: ~0.22 Hz)."""
    gen = RRGenerator(seed=3, model=StrapModel(mayer_ms=0.0))
    gen.follow(Practice(start_s=0.0, duration_s=600.0, breath_per_min=6.0))
    rr = _rr_ms(list(notifications(gen, duration_s=300.0)), 10.0)
    assert _peak_hz(rr) == pytest.approx(0.1, abs=0.02)


def _peak_hz(rr_ms: np.ndarray) -> float:
    """Frequency of the largest spectral peak of the evenly resampled RR series (4 Hz)."""
    t = np.cumsum(rr_ms) / 1000.0
    grid = np.arange(t[0], t[-1], 0.25)
    x = np.interp(grid, t, rr_ms)
    x = x - x.mean()
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, d=0.25)
    band = (freqs > 0.03) & (freqs < 0.5)
    return float(freqs[band][np.argmax(spec[band])])


def test_stream_reports_a_draining_battery() -> None:
    """The simulated strap reports its battery at the start and every 10 simulated minutes, slowly draining."""
    strap = SimulatedStrap(seed=1, speed=1e9, duration_s=7200.0, start_epoch=0.0)

    async def collect() -> list[BatteryLevel]:
        return [item async for item in strap.stream() if isinstance(item, BatteryLevel)]

    levels = asyncio.run(collect())
    assert len(levels) == 13  # at the first notification, then at 600 s, 1200 s, ..., 7200 s
    assert levels[0].battery_pct == 87 and levels[-1].battery_pct <= 87
    assert all(a.battery_pct >= b.battery_pct for a, b in itertools.pairwise(levels))
