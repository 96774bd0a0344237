"""The hot path's reductions: ndarray's own numbers, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from processing.reduce import any_set, largest, smallest, total

RR = arrays(np.float64, st.integers(1, 2000), elements=st.floats(200.0, 2500.0))


@given(RR)
def test_total_is_sum_bit_for_bit(rr: np.ndarray) -> None:
    """total() is ndarray.sum() to the last bit (the same pairwise summation), at every length."""
    assert total(rr).tobytes() == rr.sum().tobytes()


@given(RR)
def test_smallest_and_largest_are_min_and_max(rr: np.ndarray) -> None:
    """smallest() and largest() are ndarray.min() and .max()."""
    assert (smallest(rr), largest(rr)) == (rr.min(), rr.max())


@given(arrays(np.int8, st.integers(0, 300), elements=st.integers(0, 3)))
def test_any_set_is_any(classes: np.ndarray) -> None:
    """any_set() is ndarray.any(), False on an empty array."""
    assert bool(any_set(classes)) == bool(classes.any())


def test_smallest_of_nothing_raises() -> None:
    """An empty array has no smallest value, as ndarray.min() says."""
    with pytest.raises(ValueError):
        smallest(np.empty(0))
