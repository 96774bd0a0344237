"""The artifact thresholds (centred quartile deviations) and the end-beat rule, on real recordings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from processing import artifacts as A
from processing.artifacts import thresholds as T
from tests.processing.conftest import load_rr

HALF = 45  # the 91-beat window of Lipponen & Tarvainen


def _rolling_reference(v: np.ndarray) -> np.ndarray:
    """pandas' centred rolling quartile deviation, windows shrinking at the ends (as NeuroKit2 uses it)."""
    r = pd.Series(v).rolling(2 * HALF + 1, center=True, min_periods=1)
    return np.asarray(((r.quantile(0.75) - r.quantile(0.25)) / 2.0).to_numpy())


@pytest.mark.parametrize("n", [92, 337, 4684])
def test_quartile_deviation_equals_pandas_centred_rolling_quantiles(n: int) -> None:
    """Per-beat thresholds of a series longer than one window equal pandas' centred rolling quartiles."""
    v = np.abs(np.diff(load_rr("Long")))[:n]
    np.testing.assert_allclose(T.quartile_deviation(v, half_beats=HALF), _rolling_reference(v), atol=1e-9)


@pytest.mark.parametrize("count", [3, 40])
def test_quartile_deviation_at_equals_the_full_series(count: int) -> None:
    """Thresholds at a few (Python path) or many (numpy path) beats equal those of every beat there."""
    v = np.abs(np.diff(load_rr("Short")))
    at = np.random.default_rng(count).integers(0, v.size, count)
    np.testing.assert_array_equal(
        T.quartile_deviation_at(v, at, half_beats=HALF), T.quartile_deviation(v, half_beats=HALF)[at]
    )


def test_series_within_one_window_has_one_threshold() -> None:
    """A 60 s window (70 beats) is one threshold window: every beat gets the whole window's quartiles."""
    v = np.abs(np.diff(load_rr("Short")[-70:]))
    q1, q3 = np.quantile(v, [0.25, 0.75])
    np.testing.assert_allclose(T.quartile_deviation(v, half_beats=HALF), (q3 - q1) / 2.0, rtol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
def test_step_at_an_end_beat_near_the_median_is_not_flagged(reverse: bool) -> None:
    """NSRDB's first interval (664 ms, then 781, 828, 875: a step with no return) is normal at either end.

    The mirrored neighbour makes any step at an end beat look like a step and a return; without the
    end-beat rule (an end beat also needs |mRR| > 3) this beat is flagged SHORT and NeuroKit2 does not
    flag it.
    """
    rr = load_rr("Long")[:400]
    rr = rr[::-1].copy() if reverse else rr
    end = rr.size - 1 if reverse else 0
    assert rr[end] == 664.0
    assert A.detect(rr).classes[end] == A.BeatClass.NORMAL
