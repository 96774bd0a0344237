"""Breathing rate from the RR series: simulated RSA at known rates with Mayer waves, and a respiration belt."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from processing import hrv
from sensors.simulated import RRGenerator, StrapModel
from tests.processing.breathing_reference import belt_windows

TOL_PER_MIN = 2.0


def _simulated(rate_per_min: float, seed: int, minutes: int = 10) -> list[npt.NDArray[np.float64]]:
    """60 s windows of the simulated strap breathing at ``rate_per_min``, RSA 25 ms, Mayer waves 18 ms."""
    model = StrapModel(
        rest_breath_per_min=rate_per_min, rsa_ms=25.0, mayer_ms=18.0, ectopic_prob=0.0, missed_prob=0.0
    )
    gen = RRGenerator(seed=seed, model=model)
    rr = np.array([gen.next_rr()[1] for _ in range(minutes * 75)])
    t = np.cumsum(rr)
    return [rr[(t > k * 60000.0) & (t <= (k + 1) * 60000.0)] for k in range(minutes)]


@pytest.mark.parametrize("rate", [6.0, 8.0, 12.0, 15.0, 20.0, 25.0, 30.0])
def test_simulated_rsa_with_mayer_waves_within_two_per_min(rate: float) -> None:
    """At a known breathing rate (6-30/min) with Mayer waves and noise, >= 80 % of 60 s windows are within ±2/min."""
    wins = [w for seed in range(3) for w in _simulated(rate, seed)]
    hits = [abs(hrv.breathing_rate(w) - rate) <= TOL_PER_MIN for w in wins]
    assert np.mean(hits) >= 0.8


def test_stronger_mayer_wave_does_not_win(tachogram: Callable[..., npt.NDArray[np.float64]]) -> None:
    """A Mayer wave (0.1 Hz) three times the RSA's amplitude (0.25 Hz) still reads as 15 breaths/min."""
    rr = tachogram(60.0, [(36.0, 0.1, 0.4), (12.0, 0.25, 0.0)], mean_rr_ms=900.0)
    assert hrv.breathing_rate(rr) == pytest.approx(15.0, abs=1.0)


def test_slow_breathing_at_six_per_min_is_seen(tachogram: Callable[..., npt.NDArray[np.float64]]) -> None:
    """Slow breathing (6/min), where RSA and baroreflex resonate and HF holds little, reads as 6/min."""
    rr = tachogram(60.0, [(60.0, 0.1, 0.0), (3.0, 0.3, 0.0)], mean_rr_ms=900.0)
    assert hrv.breathing_rate(rr) == pytest.approx(6.0, abs=1.0)


def test_belt_reference_regular_breathing_windows() -> None:
    """Against a respiration belt, >= 80 % of 60 s windows with regular breathing are within ±2/min (measured 95 %)."""
    wins = [w for w in belt_windows() if w.regular]
    assert len(wins) >= 30
    hits = [abs(hrv.breathing_rate(w.rr_ms) - w.ref_per_min) <= TOL_PER_MIN for w in wins]
    assert np.mean(hits) >= 0.8


def test_belt_reference_all_windows() -> None:
    """Over all 60 s windows (sighs and pauses included), the target: >= 80 % within ±2/min (measured 84 %; 70 %
    with the HF peak chosen on the raw periodogram), median error under 1/min."""
    wins = belt_windows()
    err = np.array([hrv.breathing_rate(w.rr_ms) - w.ref_per_min for w in wins])
    assert np.mean(np.abs(err) <= TOL_PER_MIN) >= 0.8
    assert abs(float(np.nanmedian(err))) < 1.0


def test_nan_below_thirty_seconds() -> None:
    """Under 30 s of beats there is no estimate; from 30 s there is one."""
    rr = np.full(40, 800.0) + 30.0 * np.sin(2 * np.pi * 0.25 * np.cumsum(np.full(40, 0.8)))
    assert math.isnan(hrv.breathing_rate(rr[:36]))
    assert math.isfinite(hrv.breathing_rate(rr[:38]))


def test_window_resp_rate_is_median_of_minutes(tachogram: Callable[..., npt.NDArray[np.float64]]) -> None:
    """A 5-minute window's resp_rate_bpm is the median of its 60 s pieces: 12/min for 3 min, then 20/min -> 12."""
    first = tachogram(180.0, [(30.0, 0.2, 0.0)])
    second = tachogram(120.0, [(30.0, 1.0 / 3.0, 0.0)])
    w = hrv.compute_window(np.concatenate([first, second]))
    assert w.resp_rate_bpm == pytest.approx(12.0, abs=1.0)
