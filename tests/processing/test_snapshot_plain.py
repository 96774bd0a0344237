"""Snapshots of plain number sequences (processing.snapshot's fast path) keep every value and type."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from processing import snapshot


def _same(a: object, b: object) -> bool:
    """Equal with NaN equal to NaN, and the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b  # type: ignore[arg-type]
    if isinstance(a, list | tuple | deque):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    return a == b


def test_floats_with_nan_and_infinities_round_trip() -> None:
    """A list, tuple and deque of floats holding NaN and infinities come back with them in place."""
    values = [0.5, math.nan, 1.25, math.inf, -math.inf, 3.0]
    for x in (values, tuple(values), deque(values, maxlen=10)):
        back = snapshot.round_trip(x)
        assert _same(back, x)
    assert snapshot.round_trip(deque(values, maxlen=10)).maxlen == 10


def test_finite_floats_whose_sum_overflows_round_trip() -> None:
    """Huge finite floats (their sum overflows) are stored as numbers, not as infinities."""
    values = [1.7e308, 1.7e308, -1.0]
    assert _same(snapshot.round_trip(values), values)


def test_ints_and_floats_keep_their_types() -> None:
    """Ints stay ints and floats floats, in sequences of one kind and mixed ones (a bool stays a bool)."""
    for x in ([1, 2, 3], [1, 2.0, 3], [1.0, 2, 3.5], (True, 1, 1.0), deque([7, 8.5], maxlen=None)):
        assert _same(snapshot.round_trip(x), x)


def test_numpy_scalars_in_a_list_come_back_as_python_numbers() -> None:
    """NumPy floats and ints in a list (not exact Python numbers) are stored by value."""
    back = snapshot.round_trip([np.float64(1.5), np.int64(2), np.float64(math.nan)])
    assert back[:2] == [1.5, 2] and type(back[0]) is float and type(back[1]) is int
    assert math.isnan(back[2])
