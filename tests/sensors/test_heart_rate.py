"""Tests of the 0x2A37 decoder: recorded notifications from public sources, the spec's cases, random bytes.

Every decoded field is checked against an independent reading of the GATT Specification Supplement
("Heart Rate Measurement"): `_spec_decode` below lays the fields out with `struct` from the flags, which
shares no code with `sensors.heart_rate`.
"""

from __future__ import annotations

import random
import statistics
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.errors import MalformedMeasurement, SensorError
from sensors.heart_rate import (
    HeartRateMeasurement,
    encode_measurement,
    parse_measurement,
    ticks_to_ms,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HR_DIR = FIXTURES / "hr_notifications"

# Physiological sanity for recorded beats: RR between 300 ms (200 bpm) and 2000 ms (30 bpm).
RR_MIN_MS, RR_MAX_MS = 300.0, 2000.0
# A strap's HR byte is an average over several beats while the RR values are the last one to three beats,
# and respiratory sinus arrhythmia moves single beats by several percent at rest: allow 10 % between the HR
# byte and 60000 / mean(RR). The largest gap in the clean recordings here is 6 % (Polar H10, HR 59).
HR_RR_REL_TOL = 0.10


# --- recorded fixtures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One fixture line: payload, what the source states about it (None = not stated), tags."""

    source: str
    line_no: int
    data: bytes
    hr_bpm: int | None
    rr_raw: tuple[int, ...] | None
    tags: frozenset[str]

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line_no}"


def _load(path: Path) -> list[Recorded]:
    out = []
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cols = [c.strip() for c in line.split("|")]
        hr = None if cols[1] == "?" else int(cols[1])
        rr = None if cols[2] == "?" else tuple(int(t) for t in cols[2].split())
        tags = frozenset(cols[3].split()) if len(cols) > 3 else frozenset()
        out.append(Recorded(path.stem, no, bytes.fromhex(cols[0]), hr, rr, tags))
    return out


ALL = [r for p in sorted(HR_DIR.glob("*.txt")) for r in _load(p)]
DECODABLE = [r for r in ALL if "malformed" not in r.tags]
MALFORMED = [r for r in ALL if "malformed" in r.tags]
RECORDED = [r for r in DECODABLE if "example" not in r.tags]


def _spec_decode(data: bytes) -> tuple[int, int | None, bool | None, tuple[int, ...]]:
    """(hr, energy, contact, rr) read with struct from the spec's field layout; raises struct.error/ValueError."""
    flags = data[0]
    fmt = "<B" + ("H" if flags & 0x01 else "B") + ("H" if flags & 0x08 else "")
    head = struct.calcsize(fmt)
    tail = len(data) - head
    if tail < 0:
        raise ValueError("short")
    if flags & 0x10:
        if tail % 2:
            raise ValueError("odd RR bytes")
        n_rr = tail // 2
    elif tail:
        raise ValueError("trailing bytes")
    else:
        n_rr = 0
    fields = struct.unpack(fmt + "H" * n_rr, data)
    hr = fields[1]
    energy = fields[2] if flags & 0x08 else None
    rr = tuple(fields[3 if flags & 0x08 else 2 :])
    contact = {0: None, 1: None, 2: False, 3: True}[(flags >> 1) & 0b11]
    return hr, energy, contact, rr


CLEAN_WITH_RR = [r for r in RECORDED if "artifact" not in r.tags and _spec_decode(r.data)[3]]


def test_fixtures_come_from_at_least_three_independent_sources() -> None:
    """Recorded payloads from at least three documented sources are present."""
    assert len({r.source for r in RECORDED}) >= 3
    assert len(RECORDED) >= 20


def test_every_fixture_file_is_documented_in_the_readme() -> None:
    """Each fixture file is named, with its provenance, in tests/fixtures/README.md."""
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for path in HR_DIR.glob("*.txt"):
        assert f"hr_notifications/{path.name}" in readme


@pytest.mark.parametrize(
    "rec", [r for r in DECODABLE if r.hr_bpm is not None or r.rr_raw is not None], ids=lambda r: r.id
)
def test_recorded_payload_decodes_to_the_values_its_source_states(rec: Recorded) -> None:
    """A published payload decodes to the HR and RR ticks its source states."""
    m = parse_measurement(rec.data)
    if rec.hr_bpm is not None:
        assert m.hr_bpm == rec.hr_bpm
    if rec.rr_raw is not None:
        assert m.rr_raw == rec.rr_raw


@pytest.mark.parametrize("rec", DECODABLE, ids=lambda r: r.id)
def test_recorded_payload_matches_an_independent_reading_of_the_spec(rec: Recorded) -> None:
    """Every recorded payload decodes to the fields a struct-based reading of the spec gives."""
    hr, energy, contact, rr = _spec_decode(rec.data)
    m = parse_measurement(rec.data)
    assert (m.hr_bpm, m.energy_kj, m.contact, m.rr_raw, m.flags) == (hr, energy, contact, rr, rec.data[0])


@pytest.mark.parametrize("rec", CLEAN_WITH_RR, ids=lambda r: r.id)
def test_recorded_rr_intervals_are_physiological(rec: Recorded) -> None:
    """Decoded RR of real straps lie between 300 and 2000 ms."""
    m = parse_measurement(rec.data)
    assert all(RR_MIN_MS <= ms <= RR_MAX_MS for ms in m.rr_ms)


@pytest.mark.parametrize("rec", CLEAN_WITH_RR, ids=lambda r: r.id)
def test_recorded_hr_agrees_with_its_rr_intervals(rec: Recorded) -> None:
    """The strap's HR byte agrees with 60000 / mean RR within 10 %."""
    m = parse_measurement(rec.data)
    hr_from_rr = 60000.0 / statistics.fmean(m.rr_ms)
    assert abs(hr_from_rr - m.hr_bpm) <= HR_RR_REL_TOL * m.hr_bpm


@pytest.mark.parametrize("rec", [r for r in RECORDED if "artifact" in r.tags], ids=lambda r: r.id)
def test_payloads_tagged_artifact_really_hold_an_implausible_beat(rec: Recorded) -> None:
    """An 'artifact' tag marks a payload that would fail the physiological checks (the tag is not stale)."""
    m = parse_measurement(rec.data)
    out_of_range = any(not RR_MIN_MS <= ms <= RR_MAX_MS for ms in m.rr_ms)
    off_hr = abs(60000.0 / statistics.fmean(m.rr_ms) - m.hr_bpm) > HR_RR_REL_TOL * m.hr_bpm
    assert out_of_range or off_hr


@pytest.mark.parametrize("rec", MALFORMED, ids=lambda r: r.id)
def test_recorded_payload_that_does_not_fit_its_flags_raises(rec: Recorded) -> None:
    """A published payload whose length does not fit its flags raises MalformedMeasurement."""
    with pytest.raises(MalformedMeasurement):
        parse_measurement(rec.data)


def test_recorded_fixtures_cover_the_flag_combinations_of_real_straps() -> None:
    """The recordings include Polar H10 style 0x10, contact detected (0x16, 0x06) and not detected (0x14, 0x04)."""
    flags = {r.data[0] for r in RECORDED}
    assert {0x10, 0x16, 0x06, 0x14, 0x04} <= flags


# --- the spec's cases ---------------------------------------------------------------------------------------


def test_uint8_heart_rate() -> None:
    """Flags bit0 clear: the heart rate is the single byte after the flags."""
    m = parse_measurement(bytes([0x00, 0xC8]))
    assert m.hr_bpm == 200
    assert m.rr_raw == ()
    assert m.energy_kj is None


def test_uint16_heart_rate() -> None:
    """Flags bit0 set: the heart rate is a little-endian uint16."""
    m = parse_measurement(bytes([0x01, 0x2C, 0x01]))
    assert m.hr_bpm == 300


def test_contact_is_none_when_the_strap_does_not_support_it() -> None:
    """Contact-supported bit clear gives contact None, whatever the detected bit says."""
    assert parse_measurement(bytes([0x00, 60])).contact is None
    assert parse_measurement(bytes([0x02, 60])).contact is None


def test_contact_detected() -> None:
    """Contact bits 0b11 (flags 0x06) give contact True."""
    assert parse_measurement(bytes([0x06, 60])).contact is True


def test_contact_not_detected() -> None:
    """Contact bits 0b10 (flags 0x04) give contact False."""
    assert parse_measurement(bytes([0x04, 60])).contact is False


def test_energy_expended() -> None:
    """Flags bit3: a uint16 kJ field follows the heart rate and precedes the RR values."""
    m = parse_measurement(bytes([0x18, 72, 0xE8, 0x03, 0x00, 0x04]))
    assert m.energy_kj == 1000
    assert m.rr_raw == (1024,)


def test_energy_expended_after_uint16_heart_rate() -> None:
    """With a uint16 heart rate the energy field starts at byte 3."""
    m = parse_measurement(bytes([0x09, 0x2C, 0x01, 0x10, 0x27]))
    assert (m.hr_bpm, m.energy_kj) == (300, 10000)


def test_rr_flag_with_zero_rr_values() -> None:
    """RR flag set but no RR bytes (a second without a beat) decodes to no RR."""
    m = parse_measurement(bytes([0x10, 40]))
    assert m.rr_raw == ()
    assert m.rr_ms == ()


def test_several_rr_values_in_order() -> None:
    """Several RR values are read oldest first, to the end of the payload."""
    m = parse_measurement(bytes([0x10, 195, 0x3C, 0x01, 0x3D, 0x01, 0x3E, 0x01, 0x3F, 0x01]))
    assert m.rr_raw == (316, 317, 318, 319)


def test_rr_ticks_are_kept_raw_and_converted_to_ms() -> None:
    """rr_raw keeps the 1/1024 s ticks; rr_ms is ticks * 1000 / 1024."""
    m = parse_measurement(bytes([0x10, 60, 0x00, 0x04, 0x01, 0x00, 0xFF, 0xFF]))
    assert m.rr_raw == (1024, 1, 65535)
    assert m.rr_ms == (1000.0, 0.9765625, 65535 * 1000 / 1024)
    assert ticks_to_ms(512) == 500.0


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"", "empty payload"),
        (b"\x00", "no heart rate byte"),
        (b"\x01\x48", "truncated uint16 heart rate"),
        (b"\x08\x48\xe8", "truncated energy expended"),
        (b"\x09\x2c\x01\xe8", "truncated energy after uint16 heart rate"),
        (b"\x10\x48\x00\x04\x00", "odd number of RR bytes"),
        (b"\x00\x48\x00\x04", "trailing bytes without the RR flag"),
        (b"\x08\x48\xe8\x03\x01", "trailing byte after energy without the RR flag"),
    ],
)
def test_payload_that_does_not_fit_its_flags_raises_malformed(payload: bytes, why: str) -> None:
    """Each kind of payload that does not fit its flags raises MalformedMeasurement carrying the bytes."""
    with pytest.raises(MalformedMeasurement) as info:
        parse_measurement(payload)
    assert info.value.data == payload
    assert info.value.reason


def test_malformed_measurement_is_a_value_error_and_a_sensor_error() -> None:
    """MalformedMeasurement is a ValueError (the contract) and a SensorError (the package base)."""
    with pytest.raises(ValueError):
        parse_measurement(b"")
    assert issubclass(MalformedMeasurement, ValueError)
    assert issubclass(MalformedMeasurement, SensorError)


@pytest.mark.parametrize("value", [2, [0x10, 72], "1048", None, 3.5])
def test_non_buffer_input_raises_malformed(value: object) -> None:
    """An int, list, str or None is refused, never turned into bytes (bytes(2) would decode as HR 0)."""
    with pytest.raises(MalformedMeasurement):
        parse_measurement(value)  # type: ignore[arg-type]


def test_released_memoryview_raises_malformed() -> None:
    """A released buffer raises MalformedMeasurement, not the ValueError of memoryview."""
    view = memoryview(b"\x10\x48")
    view.release()
    with pytest.raises(MalformedMeasurement):
        parse_measurement(view)


def test_bytearray_and_memoryview_decode_like_bytes() -> None:
    """bytearray and memoryview payloads (bleak hands over bytearray) decode like bytes."""
    payload = bytes.fromhex("164e1b031203")
    expected = parse_measurement(payload)
    assert parse_measurement(bytearray(payload)) == expected
    assert parse_measurement(memoryview(payload)) == expected


def test_reserved_flag_bits_are_ignored() -> None:
    """Bits 5-7 of the flags change nothing but the kept flags byte."""
    base = parse_measurement(bytes.fromhex("164e1b031203"))
    high = parse_measurement(bytes.fromhex("f64e1b031203"))
    assert (high.hr_bpm, high.rr_raw, high.contact, high.energy_kj) == (
        base.hr_bpm,
        base.rr_raw,
        base.contact,
        base.energy_kj,
    )
    assert high.flags == 0xF6


# --- properties ---------------------------------------------------------------------------------------------

u16 = st.integers(min_value=0, max_value=0xFFFF)


@settings(max_examples=300, deadline=None)
@given(
    hr=u16,
    rr=st.lists(u16, max_size=9),
    contact=st.sampled_from([None, True, False]),
    energy=st.none() | u16,
)
def test_encode_then_parse_round_trips(
    hr: int, rr: list[int], contact: bool | None, energy: int | None
) -> None:
    """parse_measurement(encode_measurement(...)) gives back every field."""
    m = parse_measurement(encode_measurement(hr, rr, contact=contact, energy_kj=energy))
    assert (m.hr_bpm, m.rr_raw, m.contact, m.energy_kj) == (hr, tuple(rr), contact, energy)


@settings(max_examples=2000, deadline=None)
@given(data=st.binary(max_size=40))
def test_random_bytes_decode_as_the_spec_says_or_raise_malformed(data: bytes) -> None:
    """Any bytes either raise MalformedMeasurement or decode to what the spec's layout gives."""
    try:
        expected = _spec_decode(data)
    except (IndexError, ValueError, struct.error):
        with pytest.raises(MalformedMeasurement):
            parse_measurement(data)
        return
    m = parse_measurement(data)
    assert (m.hr_bpm, m.energy_kj, m.contact, m.rr_raw) == expected


def _expected_length(m: HeartRateMeasurement) -> int:
    return 1 + (2 if m.flags & 0x01 else 1) + (2 if m.flags & 0x08 else 0) + 2 * len(m.rr_raw)


def test_hundred_thousand_random_payloads_raise_only_malformed() -> None:
    """100,000 seeded random payloads of 0-40 bytes raise only MalformedMeasurement or decode consistently."""
    rng = random.Random(20260)
    decoded = malformed = 0
    for _ in range(100_000):
        data = rng.randbytes(rng.randint(0, 40))
        try:
            m = parse_measurement(data)
        except MalformedMeasurement:
            malformed += 1
            continue
        decoded += 1
        assert isinstance(m, HeartRateMeasurement)
        assert m.flags == data[0]
        assert _expected_length(m) == len(data)
        assert 0 <= m.hr_bpm <= 0xFFFF
        assert all(0 <= t <= 0xFFFF for t in m.rr_raw)
        assert m.contact is (None if not m.flags & 0x04 else bool(m.flags & 0x02))
    # both outcomes are exercised, so the loop tests something
    assert decoded > 1_000
    assert malformed > 1_000
