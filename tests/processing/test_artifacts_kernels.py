"""The compiled threshold loops (processing/artifacts/_kernels.c) give numpy's numbers bit for bit.

The reference is the same code with ``thresholds.KERNELS`` set to None (numpy alone, as a package built
without a C compiler runs): per-beat quartile deviations, the 11-beat median and whole detections must be
identical on the real recordings (with injected artifacts) and on random series.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
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

pytestmark = pytest.mark.skipif(
    T.KERNELS is None and os.environ.get("CI") != "true", reason="built without a C compiler"
)


@contextmanager
def _numpy_alone() -> Iterator[None]:
    with mock.patch.object(T, "KERNELS", None):
        yield


def test_kernels_are_built_in_ci() -> None:
    """CI has a C compiler: the compiled loops and detection are there, so the comparisons below run."""
    assert T.KERNELS is not None
    assert callable(getattr(T.KERNELS, "detect", None))


def _assert_same_detect(rr: FloatArray) -> None:
    got = artifacts.detect(rr)
    with _numpy_alone():
        want = artifacts.detect(rr)
    np.testing.assert_array_equal(got.classes, want.classes)
    np.testing.assert_array_equal(got.corrected_rr_ms, want.corrected_rr_ms)


@functools.cache
def _series(name: str) -> tuple[FloatArray, ...]:
    base = J.recordings()[name]
    return (base, *(J.inject(base, k, r, 3).rr_ms for k in J.KINDS for r in (0.02, 0.05)))


@pytest.mark.parametrize("name", tuple(J.recordings()))
@pytest.mark.parametrize(("beats", "step"), [(70, 17), (93, 29), (335, 97), (600, 301)])
def test_detect_is_the_same_with_and_without_kernels(name: str, beats: int, step: int) -> None:
    """Windows of the real recordings, clean and with each class of artifact injected."""
    for rr in _series(name):
        for start in range(0, max(1, rr.size - beats), step):
            _assert_same_detect(rr[start : start + beats])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(0.0, 3000.0, allow_nan=False), min_size=2, max_size=400),
    st.sampled_from([1.0, 0.5, 1 / 1024, 1e-3]),
    st.integers(1, 60),
)
def test_thresholds_are_the_same_with_and_without_kernels(
    values: list[float], grid: float, half: int
) -> None:
    """Quartile deviations and running medians of random series, ties common (values on a grid)."""
    v = np.round(np.asarray(values) / grid) * grid
    at = np.arange(0, v.size, 3)
    got = (T.quartile_deviation(v, half_beats=half), T.quartile_deviation_at(v, at, half_beats=half))
    med = T.median_filter(v, 11)
    with _numpy_alone():
        want = (T.quartile_deviation(v, half_beats=half), T.quartile_deviation_at(v, at, half_beats=half))
        np.testing.assert_array_equal(med, T.median_filter(v, 11))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(92, 700), st.floats(0.0, 0.2))
def test_detect_is_the_same_on_noisy_rhythms(seed: int, n: int, spread: float) -> None:
    """Random sinus-like rhythms longer than one threshold window, with spikes and flat stretches."""
    rng = np.random.default_rng(seed)
    x = 800.0 * (1.0 + spread * rng.standard_normal(n))
    x[rng.random(n) < 0.2] = 800.0
    spikes = rng.random(n) < 0.05
    x[spikes] *= rng.choice([0.3, 0.5, 1.6, 2.0, 3.0], spikes.sum())
    _assert_same_detect(np.clip(np.round(x), 1.0, None))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 130), st.floats(0.0, 0.25))
def test_detect_is_the_same_on_short_windows_with_every_kind_of_fault(seed: int, n: int, rate: float) -> None:
    """Series of 0-130 beats (the 60 s window's sizes) with cut, doubled, tripled and impossible intervals."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(500.0, 1200.0) * (1.0 + 0.08 * rng.standard_normal(n))
    faults = rng.random(n) < rate
    x[faults] *= rng.choice([0.1, 0.25, 0.4, 0.5, 0.75, 1.3, 1.5, 2.0, 3.0, 4.0], faults.sum())
    if rng.random() < 0.3:  # the strap's 1/1024 s resolution: ties are common
        x = np.round(x * 1.024) / 1.024
    _assert_same_detect(np.clip(x, 1.0, None))


def test_compiled_detect_refuses_wrong_buffers() -> None:
    """A classes buffer of the wrong type or a corrected buffer without room raises, naming what it needs."""
    assert T.KERNELS is not None
    rr = np.full(10, 800.0)
    args = (300.0, 2000.0, 5.2, 0.13, 0.17, 91, 11, 4, 4)
    with pytest.raises(TypeError, match="format 'b'"):
        T.KERNELS.detect(rr, np.empty(10), np.empty(21), *args)
    with pytest.raises(ValueError, match="2 \\* len\\(rr\\) \\+ 1"):
        T.KERNELS.detect(rr, np.empty(10, dtype=np.int8), np.empty(10), *args)
    with pytest.raises(ValueError, match="finite positive"):
        T.KERNELS.detect(np.full(10, np.nan), np.empty(10, dtype=np.int8), np.empty(21), *args)
