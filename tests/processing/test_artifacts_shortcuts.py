"""The shortcuts of :func:`processing.artifacts.detect` give exactly the results of its plain definition.

The reference is detect with its shortcut switched off (every series through the full classification):
classes and the corrected series must be identical, bit for bit, on windows of the real recordings (60 s and 300 s, as
the stream processor cuts them) with and without injected artifacts, and on random series.
"""

from __future__ import annotations

import functools
from unittest import mock

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processing import artifacts
from processing.artifacts import thresholds as T
from tests.processing import artifact_injection as J

FloatArray = npt.NDArray[np.float64]


def _plain_detect(rr: npt.NDArray[np.float64]) -> artifacts.ArtifactResult:
    """detect without the clean-window shortcut: the full classification for every series."""
    with mock.patch.object(artifacts, "_one_window", lambda *_args: None):
        return artifacts.detect(rr)


def _assert_same(rr: FloatArray) -> None:
    got, want = artifacts.detect(rr), _plain_detect(rr)
    assert got.classes.dtype == want.classes.dtype
    np.testing.assert_array_equal(got.classes, want.classes)
    assert got.corrected_rr_ms.dtype == want.corrected_rr_ms.dtype
    np.testing.assert_array_equal(got.corrected_rr_ms, want.corrected_rr_ms)


@functools.cache
def _series(name: str) -> tuple[FloatArray, ...]:
    """A recording as it is and with each class of artifact injected at 2 % and 5 % (two seeds)."""
    base = J.recordings()[name]
    injected = [J.inject(base, k, r, s).rr_ms for k in J.KINDS for r in (0.02, 0.05) for s in (0, 1)]
    return (base, *injected)


@pytest.mark.parametrize("name", tuple(J.recordings()))
@pytest.mark.parametrize(("beats", "step"), [(70, 7), (62, 11), (92, 13), (93, 13), (335, 61)])
def test_detect_equals_plain_definition_on_real_windows(name: str, beats: int, step: int) -> None:
    """Windows of the real recordings, clean and with injected artifacts, every ``step`` beats."""
    for rr in _series(name):
        for start in range(0, max(1, rr.size - beats), step):
            _assert_same(rr[start : start + beats])


def _is_clean(rr: FloatArray) -> bool:
    one = artifacts._one_window(rr, 300.0, 2000.0, 5.2, 91)
    return one is not None and (one[0] == 0.0 or one[1] / one[0] <= 1.0)


def test_clean_window_shortcut_is_taken_and_exact() -> None:
    """The 60 s shortcut (nothing out of range, no normalised dRR above 1) fires on real windows."""
    rr = J.recordings()["pyhrv NSRDB (60 min)"]
    taken = 0
    for start in range(0, rr.size - 70, 5):
        w = rr[start : start + 70]
        taken += _is_clean(w)
        _assert_same(w)
    assert taken > 0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(250.0, 2100.0, allow_nan=False), min_size=1, max_size=120),
    st.sampled_from([1.0, 0.5, 0.25, 1e-3]),
)
def test_detect_equals_plain_definition_on_random_series(rr: list[float], grid: float) -> None:
    """Random series, values on a grid (ties and equal dRRs are common) or arbitrary."""
    x = np.round(np.asarray(rr) / grid) * grid
    _assert_same(x)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(5, 400), st.floats(0.0, 0.2))
def test_detect_equals_plain_definition_on_noisy_rhythms(seed: int, n: int, spread: float) -> None:
    """Random sinus-like rhythms with spikes, dropouts and flat stretches (thresholds of zero)."""
    rng = np.random.default_rng(seed)
    x = 800.0 * (1.0 + spread * rng.standard_normal(n))
    flat = rng.random(n) < 0.2
    x[flat] = 800.0
    spikes = rng.random(n) < 0.05
    x[spikes] *= rng.choice([0.3, 0.5, 1.6, 2.0, 3.0], spikes.sum())
    _assert_same(np.clip(np.round(x), 1.0, None))


@pytest.mark.parametrize("n", [92, 93, 136, 137, 200, 336, 1000])
def test_quartile_deviation_equals_plain_per_window_sort(n: int) -> None:
    """Per-beat thresholds equal (Q3 - Q1) / 2 of each window sorted on its own (as numpy.sort)."""
    v = np.abs(np.diff(J.recordings()["pyhrv NSRDB (60 min)"]))[:n]
    want = np.empty(n)
    for c in range(n):
        w = np.sort(v[max(c - 45, 0) : c + 46])
        last = w.size - 1
        q = []
        for share in (0.25, 0.75):
            pos = last * share
            i = int(pos)
            q.append(w[i] + (pos - i) * (w[min(i + 1, last)] - w[i]))
        want[c] = 0.5 * (q[1] - q[0])
    np.testing.assert_array_equal(T.quartile_deviation(v, half_beats=45), want)
