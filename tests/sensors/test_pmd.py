"""Polar PMD accelerometer frames: the decoder checked on frames recorded in Polar's BLE SDK tests.

The frames are the byte vectors of polarofficial/polar-ble-sdk's AccDataTest.kt (see
tests/fixtures/README.md); the expected values are the ones that test asserts.
"""

from __future__ import annotations

import random

import pytest

from sensors.pmd import (
    AccFrame,
    MotionMeter,
    PmdFormatError,
    decode_acc_frame,
    pmd_time_s,
    start_acc_command,
)

# raw frame type 1 (16-bit x, y, z in mg): header 02 | timestamp 2,000,000,000 ns | 01
RAW_TYPE1 = bytes.fromhex("02 0094357700000000 01") + bytes.fromhex(
    "F7FFFFFFE703F8FFFEFFE503F9FFFFFFE503FAFFFFFFE603FAFFFEFFE603F9FFFFFFE503F8FFFFFFE603F8FFFEFFE603"
    "FAFFFFFFE503FAFFFFFFE703FAFFFFFFE503F8FFFFFFE603F7FFFFFFE603F8FFFEFFE603F9FFFEFFE703F9FF0000E603"
    "F9FFFFFFE603F7FFFEFFE503F9FFFFFFE503F9FFFFFFE503FAFF0000E603F9FFFEFFE603F8FFFFFFE603F8FFFFFFE503"
    "F9FFFFFFE603F9FFFFFFE503FAFFFFFFE603F9FFFFFFE503F9FFFFFFE503F8FFFEFFE603F9FFFFFFE603F9FFFFFFE603"
    "F9FF0000E503F9FFFEFFE603F8FFFEFFE603F7FFFEFFE603"
)
# compressed type 0 (delta frames, values x factor G): header 02 | 2,000,000,000 ns | 80
COMPRESSED_TYPE0 = bytes.fromhex("02 0094357700000000 80") + bytes.fromhex(
    "7107F06A9E8D0A38BE5CBEBA2F96B3EE4BE5ADFB42B9EBBE4CFEBA2F92BFEE4BE4B1FB12B9ECBD3C3EBB2F8FD3DE4BE3"
    "B5F7D2B8EDBD307E7B2F8BE3CE8BE2BAF7A2B8EEBC20BE7B2F88F3CECBE1BDEF52F8EFBC18FE3B2F8403BFCBE0C2EF32"
    "B8F0BB044EBC2E8113AF0BE0C6EFF2F7F1B9FC7DBC2E7D279F4BDFCAEBC2F7F2B8ECCD7C2E7B378F4BDECEE392F7F3B8"
    "E00DFD2D774B7FCBDDD2DF6237F5B7D44DBD2D745B6FCBDCD7D73237F6B5C88D7D2D716B4F4BDCDCD3F236F7B4BCDDFD"
    "2C6F7B3F4BDBE0CFD236F8B2B02DBE2C6C8F1FCBDAE3C7A276F9"
)
# compressed type 1 (delta frames, mg): header 02 | 101 ns | 81
COMPRESSED_TYPE1 = bytes.fromhex("02 6500000000000000 81 F1FF1400F003 06 01 7B0F08")


def test_raw_type1_frame_decodes_to_mg_samples() -> None:
    """Raw type 1: 16-bit samples in mg; the first two as Polar's test asserts; 36 samples; timestamp."""
    f = decode_acc_frame(RAW_TYPE1)
    assert f.timestamp_ns == 2_000_000_000 and not f.compressed and f.frame_type == 1
    assert f.samples_mg[0] == (-9.0, -1.0, 999.0)
    assert f.samples_mg[1] == (-8.0, -2.0, 997.0)
    assert len(f.samples_mg) == (len(RAW_TYPE1) - 10) // 6 == 36


def test_compressed_type0_frame_decodes_reference_and_deltas() -> None:
    """Compressed type 0: reference (1905, 27376, -29282), then +190, -105, -85; 57 samples in mg."""
    factor = 2.44e-4
    f = decode_acc_frame(COMPRESSED_TYPE0, factor=factor)
    assert f.compressed and f.frame_type == 0
    assert len(f.samples_mg) == 1 + 56
    s0 = (1905, 27376, -29282)
    s1 = (1905 + 190, 27376 - 105, -29282 - 85)
    for got, raw in ((f.samples_mg[0], s0), (f.samples_mg[1], s1)):
        assert [int(g) for g in got] == [int(factor * r * 1000) for r in raw]
    assert all(abs(c) <= 8000 for s in f.samples_mg for c in s)  # within the 8 g range


def test_compressed_type1_frame_decodes_six_bit_deltas() -> None:
    """Compressed type 1: reference (-15, 20, 1008) and one sample of deltas (-5, -3, 0)."""
    f = decode_acc_frame(COMPRESSED_TYPE1)
    assert f.timestamp_ns == 101
    assert f.samples_mg == ((-15.0, 20.0, 1008.0), (-20.0, 17.0, 1008.0))


def test_truncated_and_foreign_frames_raise_format_errors() -> None:
    """Cut frames, other measurement types and unknown frame types are PmdFormatError."""
    for bad in (
        RAW_TYPE1[:9],
        RAW_TYPE1[:-1],
        b"\x00" + RAW_TYPE1[1:],
        RAW_TYPE1[:9] + b"\x05" + RAW_TYPE1[10:],
        COMPRESSED_TYPE1[:-1],
        COMPRESSED_TYPE0[:20],
    ):
        with pytest.raises(PmdFormatError):
            decode_acc_frame(bad)


def test_random_bytes_raise_nothing_but_format_errors() -> None:
    """20,000 random frames: each decodes or raises PmdFormatError, nothing else."""
    rng = random.Random(5)
    decoded = rejected = 0
    for _ in range(20_000):
        n = rng.randrange(0, 80)
        data = bytes([0x02] + [rng.getrandbits(8) for _ in range(n)])
        try:
            frame = decode_acc_frame(data)
        except PmdFormatError:
            rejected += 1
        else:
            decoded += 1
            assert all(len(s) == 3 for s in frame.samples_mg)
    assert decoded + rejected == 20_000 and decoded > 0 and rejected > 0


def test_motion_intensity_is_near_zero_at_rest_and_grows_with_movement() -> None:
    """A strap at rest (the recorded frame, ~1 g) gives under 10 mg; shaking adds hundreds of mg."""
    rest = decode_acc_frame(RAW_TYPE1)
    meter = MotionMeter(rate_hz=40.0)
    out = []
    for k in range(5):
        out += meter.push(rest, 1000.0 + k + 0.99)
    assert len(out) == 4 and all(m.intensity_mg < 10.0 for m in out)
    shaken = AccFrame(0, 1, False, tuple((400.0 * (-1) ** i, 0.0, 999.0) for i in range(40)))
    moving = meter.push(shaken, 1005.99) + meter.push(shaken, 1006.99)
    assert moving[-1].intensity_mg > 50.0
    assert [m.t for m in out + moving] == sorted(m.t for m in out + moving)


def test_each_second_carries_its_mean_acceleration_vector() -> None:
    """The second's mean vector is gravity's direction at rest: lying on the back vs upright differ by 90°."""
    meter = MotionMeter(rate_hz=25.0)
    upright = AccFrame(0, 1, False, tuple((0.0, -1000.0, 20.0) for _ in range(25)))
    lying = AccFrame(0, 1, False, tuple((0.0, 10.0, 1000.0) for _ in range(25)))
    out = []
    for k, frame in enumerate((upright, upright, lying, lying)):
        out += meter.push(frame, 2000.0 + k + 0.99)
    assert len(out) == 3
    g = [m.gravity_mg for m in out]
    assert g[0] == pytest.approx((0.0, -1000.0, 20.0)) and g[2] == pytest.approx((0.0, 10.0, 1000.0))
    assert all(m.intensity_mg < 10.0 for m in out)


def test_start_command_and_timestamps() -> None:
    """The start command carries rate, resolution and range; PMD time counts from 2000-01-01."""
    assert start_acc_command(25, 8) == bytes.fromhex("0202 0001 1900 0101 1000 0201 0800")
    assert start_acc_command(200, 8) == bytes.fromhex("02020001C80001011000020108 00".replace(" ", ""))
    assert pmd_time_s(0) == 946_684_800.0
