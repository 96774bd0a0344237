"""State snapshots: plain versioned bytes; a restored processor continues exactly like an uninterrupted one."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import zlib
from collections import OrderedDict, deque
from datetime import time

import numpy as np
import pytest

from processing import snapshot
from processing.arousal import ArousalState
from processing.snapshot import SnapshotError
from processing.stream import StreamProcessor
from sensors.beats import BeatClock
from sensors.heart_rate import parse_measurement
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications

START = 1_700_000_000.0


def _notes(seed: int, minutes: float) -> list[tuple[float, bytes]]:
    gen = RRGenerator(
        seed=seed,
        episodes=(
            ScriptedEpisode(start_s=25 * 60.0, plateau_s=180.0),
            ScriptedEpisode(start_s=45 * 60.0, plateau_s=120.0),
        ),
    )
    return [(START + n.t_s, n.data) for n in notifications(gen, duration_s=minutes * 60.0)]


def _feed(proc: StreamProcessor, clock: BeatClock, notes: list[tuple[float, bytes]]) -> list[str]:
    out: list[str] = []
    for arrival, data in notes:
        beats, gap = clock.push(parse_measurement(data), arrival)
        if gap is not None:
            proc.gap(gap)
        for b in beats:
            out.extend(repr(o) for o in proc.push(b))
        out.extend(repr(t) for t in proc.take_artifact_times())
    return out


def test_restored_processor_gives_the_same_outputs_as_an_uninterrupted_one() -> None:
    """Snapshot at 30 of 60 simulated minutes; the restored processor's outputs equal the uninterrupted ones."""
    notes = _notes(seed=3, minutes=60.0)
    half = len(notes) // 2
    whole = StreamProcessor(user="ana", device="d1")
    whole_clock = BeatClock(device="d1", user="ana")
    expected = _feed(whole, whole_clock, notes)

    first = StreamProcessor(user="ana", device="d1")
    first_clock = BeatClock(device="d1", user="ana")
    got = _feed(first, first_clock, notes[:half])
    data = snapshot.dump((first, first_clock), kind="test-processor")
    del first, first_clock
    proc, clock = snapshot.load(data, kind="test-processor")
    got += _feed(proc, clock, notes[half:])

    assert any("Episode(" in line for line in expected), "the hour must contain an episode to compare"
    assert any("Arousal(" in line for line in expected[len(expected) // 2 :])
    assert got == expected


def test_the_same_beats_give_the_same_snapshot_bytes() -> None:
    """A processor's snapshot holds only what its beats made: no leftover memory (another user's) in the bytes."""
    notes = _notes(seed=4, minutes=3.0)
    dumps = []
    for _ in range(2):
        garbage = np.full(1 << 16, 1234.5)  # memory a buffer made with np.empty could reuse
        del garbage
        proc = StreamProcessor(user="ana", device="d1")
        _feed(proc, BeatClock(device="d1", user="ana"), notes)
        dumps.append(snapshot.dump(proc, kind="test-processor"))
    assert dumps[0] == dumps[1]


def test_snapshot_is_versioned_json_not_pickle() -> None:
    """The bytes are a magic tag plus compressed JSON naming its format, version and kind."""
    data = snapshot.dump(StreamProcessor(user="ana", device="d1"), kind="proc")
    assert data.startswith(snapshot.MAGIC)
    doc = json.loads(zlib.decompress(data[len(snapshot.MAGIC) :]))
    assert (doc["format"], doc["version"], doc["kind"]) == ("calmstrap.snapshot", snapshot.VERSION, "proc")


def test_wrong_kind_is_refused() -> None:
    """A snapshot of one kind does not load as another."""
    data = snapshot.dump(BeatClock(device="d", user="u"), kind="clock")
    with pytest.raises(SnapshotError, match="expected 'session'"):
        snapshot.load(data, kind="session")


def test_other_format_version_is_refused() -> None:
    """A snapshot written by another format version names both versions."""
    doc = {"format": snapshot.FORMAT, "version": 99, "kind": "k", "state": None}
    data = snapshot.MAGIC + zlib.compress(json.dumps(doc).encode())
    with pytest.raises(SnapshotError, match="version 99"):
        snapshot.load(data, kind="k")


def test_garbage_is_refused() -> None:
    """Bytes that are not a snapshot raise SnapshotError, not something else."""
    with pytest.raises(SnapshotError):
        snapshot.load(b"\x80\x04pickle?", kind="k")
    with pytest.raises(SnapshotError):
        snapshot.load(snapshot.MAGIC + b"not zlib", kind="k")


def test_classes_outside_the_allowed_packages_are_not_rebuilt() -> None:
    """A snapshot naming a class outside calmstrap's packages is refused (it cannot name arbitrary code)."""
    doc = {
        "format": snapshot.FORMAT,
        "version": snapshot.VERSION,
        "kind": "k",
        "state": {"$dc": "subprocess:Popen", "$id": 0, "f": {}},
    }
    data = snapshot.MAGIC + zlib.compress(json.dumps(doc).encode())
    with pytest.raises(SnapshotError, match="outside the allowed packages"):
        snapshot.load(data, kind="k")


def test_unsupported_value_names_its_path() -> None:
    """A value that cannot be saved raises SnapshotError naming where it is."""
    clock = BeatClock(device="d1", user="ana")
    clock._recent.append((60, (1, object())))  # type: ignore[arg-type]
    with pytest.raises(SnapshotError, match=r"_recent\[0\]\[1\]\[1\]"):
        snapshot.dump(clock, kind="k")


def test_values_round_trip_exactly() -> None:
    """Floats (NaN, inf, -0.0), enums, arrays, deques, dicts with enum keys, sets and times come back equal."""
    value = {
        "floats": (math.inf, -math.inf, -0.0, 0.1 + 0.2),
        "state": ArousalState.HIGH,
        "arr": np.arange(6, dtype=np.float32).reshape(2, 3),
        "dq": deque([1, 2, 3], maxlen=5),
        "od": OrderedDict([("b", 1), ("a", 2)]),
        "keys": {ArousalState.CALM: 1, (1, "x"): 2},
        "set": {"x", "y"},
        "time": time(22, 30),
    }
    back = snapshot.round_trip(value)
    assert back["floats"] == value["floats"] and math.copysign(1.0, back["floats"][2]) == -1.0
    assert back["state"] is ArousalState.HIGH
    assert back["arr"].dtype == np.float32 and np.array_equal(back["arr"], value["arr"])
    assert back["dq"] == value["dq"] and back["dq"].maxlen == 5
    assert list(back["od"].items()) == [("b", 1), ("a", 2)]
    assert back["keys"] == value["keys"] and back["set"] == value["set"] and back["time"] == value["time"]
    assert math.isnan(snapshot.round_trip(math.nan))


def test_shared_objects_stay_shared() -> None:
    """One random.Random reached twice comes back as one object with the same state."""
    rng = random.Random(7)
    rng.random()
    a, b = snapshot.round_trip([rng, rng])
    assert a is b
    assert a.random() == rng.random()


def test_a_field_added_since_the_snapshot_takes_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot written before a field existed loads with that field's default."""
    data = snapshot.dump(BeatClock(device="d", user="u"), kind="clock")
    original = dataclasses.fields

    def without_recent(cls: object) -> tuple[dataclasses.Field[object], ...]:
        return tuple(f for f in original(cls) if f.name != "recent_payloads")  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot.dataclasses, "fields", without_recent)
    older = snapshot.dump(BeatClock(device="d", user="u"), kind="clock")
    monkeypatch.undo()
    assert older != data
    clock = snapshot.load(older, kind="clock")
    assert clock.recent_payloads == BeatClock(device="d", user="u").recent_payloads
