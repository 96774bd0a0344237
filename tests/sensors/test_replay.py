"""RR file readers (Kubios RR text, CSV with and without timestamps) and the replay source."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from sensors.errors import ReplayFormatError
from sensors.heart_rate import ms_to_ticks, parse_measurement
from sensors.replay import ReplaySource, RRFormat, RRRecording, read_rr_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_kubios_rr_text_in_ms_and_seconds(tmp_path: Path) -> None:
    """Kubios RR text: headers skipped; ms values kept, all-below-10 values read as seconds."""
    ms = read_rr_file(_write(tmp_path, "a.txt", "# Kubios RR\n# user x\n\n812\n 790.5\n845\n"))
    assert ms.format is RRFormat.KUBIOS
    assert ms.rr_ms == (812.0, 790.5, 845.0) and ms.t_s is None
    s = read_rr_file(_write(tmp_path, "b.txt", "0.812\n0.790\n"))
    assert s.rr_ms == pytest.approx((812.0, 790.0))


def test_csv_without_header_one_and_two_columns(tmp_path: Path) -> None:
    """CSV: one column is RR ms; two columns are epoch time and RR ms."""
    one = read_rr_file(_write(tmp_path, "a.csv", "800,\n810,\n"), RRFormat.CSV)
    assert one.rr_ms == (800.0, 810.0)
    two = read_rr_file(_write(tmp_path, "b.csv", "1700000000.8,800\n1700000001.61,810\n"))
    assert two.format is RRFormat.CSV
    assert two.rr_ms == (800.0, 810.0) and two.t_s == (1700000000.8, 1700000001.61)


def test_csv_with_header_and_iso_timestamps(tmp_path: Path) -> None:
    """A semicolon table with 'Phone timestamp' and 'RR-interval [ms]' columns (app export layout)."""
    text = (
        "Phone timestamp;RR-interval [ms]\n"
        "2024-03-01T10:00:00.800+00:00;800\n"
        "2024-03-01T10:00:01.610+00:00;810\n"
    )
    rec = read_rr_file(_write(tmp_path, "polar.txt", text))
    assert rec.rr_ms == (800.0, 810.0)
    assert rec.t_s is not None and rec.t_s[1] - rec.t_s[0] == pytest.approx(0.81)
    assert rec.t_s[0] == pytest.approx(1709287200.8)


def test_bad_line_names_its_number(tmp_path: Path) -> None:
    """A bad value on line 17 fails with 'line 17' in the message."""
    lines = ["# header"] * 3 + ["800"] * 13 + ["8x0"] + ["800"] * 5
    with pytest.raises(ReplayFormatError) as err:
        read_rr_file(_write(tmp_path, "bad.txt", "\n".join(lines) + "\n"))
    assert err.value.line_no == 17 and "line 17" in str(err.value)


def test_impossible_rr_is_a_format_error(tmp_path: Path) -> None:
    """Zero, negative and out-of-range RR values fail with their line."""
    for bad in ("0", "-800", "70000", "nan"):
        with pytest.raises(ReplayFormatError) as err:
            read_rr_file(_write(tmp_path, "x.txt", f"800\n{bad}\n"))
        assert err.value.line_no == 2


def test_csv_timestamps_going_backwards_fail(tmp_path: Path) -> None:
    """A timestamp earlier than the one before is a bad line."""
    with pytest.raises(ReplayFormatError, match="line 3"):
        read_rr_file(_write(tmp_path, "t.csv", "time,rr\n1700000100.0,800\n1700000099.0,800\n"))


def test_replay_streams_every_rr_in_order_as_notifications() -> None:
    """Replaying the pyhrv recording yields notifications carrying every RR, arriving after their beats."""
    rr = np.load(FIXTURES / "SampleNNISeriesLong.npy")[:600].astype(float)
    rec = RRRecording(rr_ms=tuple(rr), t_s=None, format=RRFormat.KUBIOS, path="mem")
    src = ReplaySource(rec, speed=1e6, start_t=1_700_000_000.0)

    async def collect() -> list[tuple[float, bytes]]:
        return [item async for item in src.stream() if isinstance(item, tuple)]

    notes = asyncio.run(collect())
    ticks = [t for _, d in notes for t in parse_measurement(d).rr_raw]
    assert ticks == [ms_to_ticks(x) for x in rr]
    arrivals = [t for t, _ in notes]
    assert arrivals == sorted(arrivals)
    beat_end = 1_700_000_000.0
    k = 0
    for arrival, data in notes:
        n = len(parse_measurement(data).rr_raw)
        beat_end += float(sum(rr[k : k + n])) / 1000.0
        k += n
        assert arrival >= beat_end - 1e-6
        assert arrival - beat_end <= 1.0 + 1e-6
