"""The effect of prompting (prompted minus control) and its Welch interval, checked against SciPy's
independent Welch t-test (scipy.stats.ttest_ind(equal_var=False).confidence_interval)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from processing.effect import prompt_effect, welch_difference


def test_welch_interval_matches_scipy_welch_t_test() -> None:
    """Difference and 95 % bounds equal SciPy's Welch interval within 1e-9 on unequal groups."""
    rng = np.random.default_rng(4)
    p = rng.normal(-5.0, 1.5, 9)
    c = rng.normal(-1.0, 3.0, 23)
    d = welch_difference(p, c)
    ref = stats.ttest_ind(p, c, equal_var=False).confidence_interval(0.95)
    assert d.diff == pytest.approx(p.mean() - c.mean(), abs=1e-12)
    assert d.ci_low == pytest.approx(ref.low, abs=1e-9)
    assert d.ci_high == pytest.approx(ref.high, abs=1e-9)
    assert (d.n_prompted, d.n_control) == (9, 23)


def test_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    """Over 2000 simulated studies (n 8 vs 12) the 95 % interval covers the true -3 in 93-97 % of them."""
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(2000):
        d = welch_difference(rng.normal(-3.0, 2.0, 8), rng.normal(0.0, 4.0, 12))
        hits += d.ci_low <= -3.0 <= d.ci_high
    assert 0.93 <= hits / 2000 <= 0.97


def test_fewer_than_two_per_group_gives_no_interval() -> None:
    """One value in a group: the difference is given, its bounds are NaN; an empty group gives NaN."""
    d = welch_difference([-4.0], [1.0, 2.0, 0.5])
    assert d.diff == pytest.approx(-5.1666666, abs=1e-6)
    assert math.isnan(d.ci_low) and math.isnan(d.ci_high) and not d.known
    assert math.isnan(welch_difference([], [1.0]).diff)


def test_non_finite_values_are_left_out() -> None:
    """NaN changes (an empty window) do not count in n nor in the means."""
    d = welch_difference([1.0, float("nan"), 3.0], [0.0, 0.0, float("inf")])
    assert (d.n_prompted, d.n_control) == (2, 2)
    assert d.diff == pytest.approx(2.0)


def test_prompt_effect_reports_every_outcome() -> None:
    """prompt_effect gives one difference per outcome (HR, ln RMSSD, score, A)."""
    e = prompt_effect(
        prompted_d_hr_bpm=[-5.0, -6.0],
        prompted_d_ln_rmssd=[0.3, 0.2],
        prompted_d_score=[-20.0, -25.0],
        prompted_d_a=[-0.5, -0.7],
        control_d_hr_bpm=[-1.0, -2.0],
        control_d_ln_rmssd=[0.1, 0.0],
        control_d_score=[5.0, 0.0],
        control_d_a=[0.3, 0.4],
    )
    assert e.d_hr_bpm.diff == pytest.approx(-4.0)
    assert e.d_ln_rmssd.diff == pytest.approx(0.2)
    assert e.d_score.diff == pytest.approx(-25.0)
    assert e.d_a.diff == pytest.approx(-0.95)
