"""processing.snapshot's fast encoder writes exactly the document of the plain one (``_Encoder``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import random
from collections import OrderedDict, deque
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processing import snapshot
from processing.arousal import ArousalState
from processing.stream import StreamProcessor
from sensors.beats import Beat, BeatClock
from tests.processing.conftest import load_rr


def _plain_text(x: object) -> str:
    return json.dumps(snapshot._Encoder().enc(x, ""), separators=(",", ":"), allow_nan=False)


def _fast_text(x: object) -> str:
    return json.dumps(snapshot._FastEncoder().enc(x), separators=(",", ":"), allow_nan=False)


def _dump_plain(x: object, kind: str) -> bytes:
    """:func:`snapshot.dump` as it was before the fast encoder."""
    import zlib

    doc = {
        "format": snapshot.FORMAT,
        "version": snapshot.VERSION,
        "kind": kind,
        "state": snapshot._Encoder().enc(x, ""),
    }
    return snapshot.MAGIC + zlib.compress(json.dumps(doc, separators=(",", ":"), allow_nan=False).encode(), 1)


@pytest.mark.parametrize("name", ["Short", "Long"])
def test_real_recording_processor_snapshots_are_the_same_bytes(name: str) -> None:
    """A processor fed a real RR recording (tests/fixtures), dumped every 60 beats: the same bytes."""
    rr: npt.NDArray[np.float64] = load_rr(name)
    proc = StreamProcessor(user="ana", device="d1")
    clock = BeatClock(device="d1", user="ana")
    t = 1_700_000_000.0
    compared = 0
    for i, x in enumerate(rr.tolist()):
        t += x / 1000.0
        proc.push(Beat(t, x, "d1", "ana"))
        proc.take_artifact_times()
        if i % 60 == 59:
            state = (proc, clock, random.Random(i))
            assert snapshot.dump(state, kind="t") == _dump_plain(state, "t")
            compared += 1
    assert compared >= 3


class _Colour(enum.Enum):
    RED = "red"
    BLUE = 2


class _Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class _Leaf:
    a: Any = None
    b: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class _Frozen:
    x: Any
    y: int = 3
    _private: str = dataclasses.field(default="p", init=False)


class _Sub(float):
    pass


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.sampled_from([_Colour.RED, _Colour.BLUE, _Level.LOW, ArousalState.HIGH]),
    st.floats(allow_nan=False, allow_infinity=False).map(np.float64),
    st.integers(min_value=-100, max_value=100).map(np.int32),
    st.floats(allow_nan=True).map(_Sub),
    st.sampled_from([dt.time(7, 30), ZoneInfo("Europe/Berlin"), dt.timezone(dt.timedelta(hours=-3))]),
    st.lists(st.floats(allow_nan=False), max_size=5).map(lambda v: np.asarray(v, dtype=np.float64)),
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    hashable = st.one_of(st.integers(), st.text(max_size=4), st.floats(allow_nan=False))
    return st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.lists(inner, max_size=5).map(lambda v: deque(v, maxlen=7)),
        st.lists(inner, max_size=5).map(deque),
        st.dictionaries(hashable, inner, max_size=4),
        st.dictionaries(hashable, inner, max_size=4).map(OrderedDict),
        st.frozensets(hashable, max_size=4),
        st.sets(hashable, max_size=4),
        st.builds(_Leaf, inner, st.floats()),
        st.builds(_Frozen, inner, st.integers()),
        st.lists(st.integers(), max_size=5),
        st.lists(st.floats(), max_size=5),
    )


_values = st.recursive(_scalars, _containers, max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_random_values_give_the_same_document(x: object) -> None:
    assert _fast_text(x) == _plain_text(x)


@settings(max_examples=100, deadline=None)
@given(_values, st.integers(min_value=0, max_value=3))
def test_shared_objects_get_the_same_ids(x: object, seed: int) -> None:
    """Objects reached twice (dataclasses, random generators) are numbered in the same order."""
    rng = random.Random(seed)
    leaf = _Leaf(x, 1.5)
    value = [leaf, {"r": rng, "again": leaf}, (rng, _Frozen(leaf)), leaf]
    assert _fast_text(value) == _plain_text(value)


def test_non_finite_floats_in_fields_and_sequences() -> None:
    value = _Leaf([math.nan, 1.0], -math.inf), (math.inf, 2.0), _Frozen(math.nan), [-0.0, 0.0]
    assert _fast_text(value) == _plain_text(value)


@pytest.mark.parametrize(
    "bad",
    [
        {"k": [1, object()]},
        _Leaf(np.array([object()], dtype=object)),
        [dt.time(1, tzinfo=dt.UTC)],
        _Frozen(x={1: lambda: None}),
    ],
)
def test_errors_name_the_same_path(bad: object) -> None:
    with pytest.raises(snapshot.SnapshotError) as fast:
        snapshot.dump(bad, kind="t")
    with pytest.raises(snapshot.SnapshotError) as plain:
        snapshot._Encoder().enc(bad, "")
    assert str(fast.value) == str(plain.value)
