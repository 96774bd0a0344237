"""Snapshot format 2's columns (sequences of one dataclass or of equal tuples), packed floats, arrays, rngs."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import struct
import zlib
from collections import deque
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processing import snapshot
from processing.arousal import Arousal, ArousalState


@dataclasses.dataclass(frozen=True, slots=True)
class _Row:
    t: float
    n: int = 0
    note: Any = None


@dataclasses.dataclass
class _Other:
    t: float


_PACKAGES = (*snapshot.DEFAULT_PACKAGES, "tests")


def _rt(x: object) -> Any:
    """``snapshot.round_trip``, this module's classes allowed."""
    return snapshot.load(snapshot.dump(x, kind="t"), kind="t", packages=_PACKAGES)


def _doc(x: object) -> Any:
    return json.loads(zlib.decompress(snapshot.dump(x, kind="t")[len(snapshot.MAGIC) :]))["state"]


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_a_deque_of_one_dataclass_is_written_as_columns_and_keeps_its_maxlen() -> None:
    """A deque of one dataclass is one columns block, and comes back equal with its maxlen."""
    rows = deque([_Row(1.5, 1, "a"), _Row(2.5, 2, None), _Row(3.5, 3, ArousalState.HIGH)], maxlen=5)
    assert "$dcs" in _doc(rows)["$dq"]
    back = _rt(rows)
    assert back == rows and back.maxlen == 5


def test_a_deque_of_mixed_classes_falls_back_item_by_item() -> None:
    """Items of two classes are written one by one, and still come back equal."""
    rows = deque([_Row(1.0), _Other(2.0), _Row(3.0)], maxlen=4)
    assert isinstance(_doc(rows)["$dq"], list)
    back = _rt(rows)
    assert list(back) == list(rows) and back.maxlen == 4


def test_a_row_met_before_stays_shared() -> None:
    """A row already written (here an earlier field) and a row repeated in the deque come back shared."""
    shared = _Other(1.0)
    later = _Other(2.0)
    a, rows = _rt((shared, [later, shared, later, _Other(3.0)]))
    assert rows[1] is a and rows[2] is rows[0]
    assert [r.t for r in rows] == [2.0, 1.0, 2.0, 3.0]
    a.t = 9.0
    assert rows[1].t == 9.0


def test_float_columns_keep_every_bit() -> None:
    """NaN, infinities, -0.0 and subnormals in a column come back with the same bits."""
    values = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 0.1 + 0.2]
    back = _rt([_Row(v) for v in values])
    assert [_bits(r.t) for r in back] == [_bits(v) for v in values]


def test_tuples_of_one_length_are_written_as_columns() -> None:
    """A deque of equal-length tuples (mixed contents) is written as columns and comes back as tuples."""
    rows = deque([(1.0, 2, "x"), (math.nan, 3, None), (2.5, 4, (1, 2))], maxlen=9)
    assert "$tr" in _doc(rows)["$dq"]
    back = _rt(rows)
    assert [type(r) for r in back] == [tuple] * 3 and back.maxlen == 9
    assert back[0] == rows[0] and math.isnan(back[1][0]) and back[1][1:] == (3, None) and back[2] == rows[2]


def test_tuples_of_different_lengths_fall_back() -> None:
    """Tuples of two lengths are written one by one and come back equal."""
    rows = [(1.0, 2.0), (3.0,), (4.0, 5.0)]
    assert isinstance(_doc(rows), list)
    assert _rt(rows) == rows


def test_a_field_the_class_gained_takes_its_default_in_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns written before a field existed load with that field's default."""
    original = dataclasses.fields

    def without_note(cls: object) -> tuple[dataclasses.Field[object], ...]:
        return tuple(f for f in original(cls) if f.name != "note")  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot.dataclasses, "fields", without_note)
    older = snapshot.dump([_Row(1.0, 1, "x"), _Row(2.0, 2, "y")], kind="t")
    monkeypatch.undo()
    assert snapshot.load(older, kind="t", packages=_PACKAGES) == [_Row(1.0, 1), _Row(2.0, 2)]


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12, dtype=np.float64).reshape(3, 4),
        np.arange(10, dtype=">i4"),
        np.array([1, 255], dtype=np.uint8),
        np.empty(0),
        np.arange(20.0)[::3],
        np.array(math.nan, dtype=np.float32),
    ],
    ids=["2d", "big-endian", "uint8", "empty", "strided", "0-d"],
)
def test_numpy_arrays_round_trip(arr: np.ndarray[Any, Any]) -> None:
    """Arrays of several dtypes and shapes come back with the same dtype, shape and bytes, writable."""
    back = _rt(arr)
    assert back.dtype == arr.dtype and back.shape == np.ascontiguousarray(arr).shape
    assert back.tobytes() == np.ascontiguousarray(arr).tobytes()
    back[...] = 0  # not a read-only view of the snapshot


def test_a_random_generator_continues_its_sequence_with_its_cached_gauss() -> None:
    """A packed random.Random goes on with the same numbers, its cached Gaussian included."""
    rng = random.Random(3)
    rng.gauss(0.0, 1.0)  # leaves a cached second Gaussian
    back = _rt(rng)
    assert "mt" in _doc(rng)["$rng"]
    assert [back.gauss(0.0, 1.0), back.random()] == [rng.gauss(0.0, 1.0), rng.random()]


def test_real_arousal_rows_round_trip() -> None:
    """A deque of Arousal rows (the processor's recent frames) comes back equal, enum state included."""
    rows = deque(
        (
            Arousal(
                t=1e9 + i,
                score=50.0 + i,
                a=0.1 * i,
                z_hr=0.2,
                z_ln_rmssd=-0.1,
                state=ArousalState.CALM,
                warming_up=False,
                gated=i % 2 == 0,
                hr_bpm=60.0,
                rmssd_ms=40.0,
                baseline_minutes=30.0,
            )
            for i in range(5)
        ),
        maxlen=64,
    )
    assert _rt(rows) == rows


_fields = st.one_of(st.floats(), st.integers(), st.none(), st.text(max_size=3), st.booleans())


def _key(r: _Row) -> tuple[object, ...]:
    """A row's fields by value and type: a float by its bits (any NaN as one: format 1 kept no payload)."""
    return ("nan" if math.isnan(r.t) else _bits(r.t), r.n, type(r.note), repr(r.note))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(_Row, st.floats(), st.integers(), _fields), max_size=8))
def test_random_rows_round_trip(rows: list[_Row]) -> None:
    """Any list of rows comes back with the same fields, float bits and types."""
    assert [_key(r) for r in _rt(rows)] == [_key(r) for r in rows]
