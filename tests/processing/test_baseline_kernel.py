"""The compiled weighted median and MAD (processing/_robust.c) give numpy's numbers bit for bit.

The reference is ``median_mad(..., compiled=False)`` (numpy alone, as a package built without a C compiler
runs) and the plain definition written out (argsort, cumsum, searchsorted); the baseline in force must be
identical with and without the module over a real recording and over a 28-day store.
"""

from __future__ import annotations

import math
import os
from unittest import mock

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import processing.baseline as B
from tests.processing import artifact_injection as J

FloatArray = npt.NDArray[np.float64]

pytestmark = pytest.mark.skipif(
    B._ROBUST_KERNEL is None and os.environ.get("CI") != "true", reason="built without a C compiler"
)

DAY_S = 86400.0
START = 1_767_225_600.0


def _plain(x: FloatArray, w: FloatArray) -> float:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return float(x[order][min(int(np.searchsorted(cw, 0.5 * cw[-1])), x.size - 1)])


def test_kernel_is_built_in_ci() -> None:
    """CI has a C compiler: the compiled median and MAD are there, so the comparisons below run."""
    assert B._ROBUST_KERNEL is not None


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.floats(-300.0, 300.0, allow_nan=False, width=16), min_size=1, max_size=300),
    st.lists(st.sampled_from([0.0, 1.0, 2.0, 5.0, 0.125, 0.3, 1e-3]), min_size=300, max_size=300),
    st.booleans(),
)
def test_median_and_mad_equal_numpy_and_the_plain_definition(
    values: list[float], weights: list[float], keyed: bool
) -> None:
    """Float16 values (many ties, negatives, zeros, values both sides of the median at one distance) under
    weights with ties and zeros: both paths and the definition agree exactly."""
    x16 = np.asarray(values, dtype=np.float16)
    w = np.asarray(weights[: x16.size], dtype=np.float64)
    if not w.sum() > 0:
        w[0] = 1.0
    col = B._Column.of(x16, keyed=keyed)
    got = B.median_mad(col, w)
    want = B.median_mad(col, w, compiled=False)
    x = x16.astype(np.float64)
    med = _plain(x, w)
    assert got == want == (med, _plain(np.abs(x - med), w))


def test_off_grid_rounding_ties_fall_back_to_numpy() -> None:
    """Two different values below the median at one rounded distance from it (off the float16 grid):
    the module declines, so numpy's stable order decides."""
    x = np.array([1e-20, 2e-20, 0.1, 0.2, 0.3])
    order = np.argsort(x, kind="stable")
    assert B._ROBUST_KERNEL is not None
    assert B._ROBUST_KERNEL.weighted_median_mad(x[order], order, np.ones(5)) is None


def test_not_finite_values_fall_back_to_numpy() -> None:
    """A NaN or infinite value or weight: the module declines and the numpy path answers."""
    x = np.array([60.0, np.nan, 70.0])
    order = np.argsort(x, kind="stable")
    assert B._ROBUST_KERNEL is not None
    assert B._ROBUST_KERNEL.weighted_median_mad(x[order], order, np.ones(3)) is None
    x = np.array([60.0, 65.0, 70.0])
    assert B._ROBUST_KERNEL.weighted_median_mad(x, np.arange(3), np.array([1.0, np.inf, 1.0])) is None


def test_bad_arguments_are_a_type_error() -> None:
    """Arrays of the wrong type or length are refused, not read past their end."""
    assert B._ROBUST_KERNEL is not None
    with pytest.raises(TypeError):
        B._ROBUST_KERNEL.weighted_median_mad(np.ones(3), np.arange(2), np.ones(3))
    with pytest.raises(TypeError):
        B._ROBUST_KERNEL.weighted_median_mad(np.ones(3, np.float32), np.arange(3), np.ones(3))
    with pytest.raises(ValueError):
        B._ROBUST_KERNEL.weighted_median_mad(np.ones(3), np.array([0, 1, 7]), np.ones(3))


def _windows(rr_ms: FloatArray) -> list[tuple[float, float, float]]:
    """(end time, HR, ln RMSSD) of the recording's successive 60 s windows, the recording starting at START."""
    t = START + np.cumsum(rr_ms) / 1000.0
    out = []
    for end in np.arange(t[0] + 60.0, t[-1], 60.0):
        rr = rr_ms[(t > end - 60.0) & (t <= end)]
        if rr.size > 10:
            rmssd = math.sqrt(float(np.mean(np.diff(rr) ** 2)))
            out.append((float(end), 60000.0 / float(rr.mean()), math.log(rmssd)))
    return out


def _baselines(windows: list[tuple[float, float, float]], aged: int) -> list[B.BaselineStats]:
    """The baseline in force after each window, fed to a tracker that first holds ``aged`` samples."""
    tr = B.BaselineTracker(utc_offset_s=3600.0)
    rng = np.random.default_rng(aged)
    for k in range(aged):
        tr.add(float(rng.normal(66, 6)), float(rng.normal(3.6, 0.4)), START - (aged - k) * 301.0)
    out = []
    for end, hr, lr in windows:
        tr.add(hr, lr, end)
        out.append(tr.stats_for(end + 1.0))
        out.extend(s for _, s in tr.snapshot())
    return out


@pytest.mark.parametrize("aged", [0, 40, 8064])
@pytest.mark.parametrize("name", ["pyhrv NSRDB (60 min)", "systole ECG (25 min)"])
def test_baseline_in_force_is_the_same_with_and_without_the_module(name: str, aged: int) -> None:
    """A real recording's windows, on an empty, a young and a 28-day store (the keyed sorts): every
    statistic the tracker gives is identical."""
    windows = _windows(J.recordings()[name])
    got = _baselines(windows, aged)
    with mock.patch.object(B, "_ROBUST_KERNEL", None):
        want = _baselines(windows, aged)
    assert len(got) == len(want) > 20
    assert got == want
