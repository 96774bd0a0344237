"""Kubios RR text: header, exact RR lines, one file per continuous recording."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np

from exports.dataset import ExportRange, load
from exports.files import Staging
from exports.kubios import HEADER_KEYS, HEADER_LINES, format_rr, write
from sensors.beats import Beat, BeatClock, beats_from_rr
from storage.archive import Archive
from tests.exports.conftest import LABEL, WEAR_DAYS, Exported, Month, run_cli

FIRST_WEEK_LAST_DAY = "2026-10-09"
"""Friday of the month's first week (a subset keeps the round trip quick)."""


def read_rr_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """An independent reader: '# key: value' header lines, then one RR in ms per line."""
    header: dict[str, str] = {}
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("#"):
            key, sep, value = raw[1:].strip().partition(": ")
            if sep:
                header[key] = value
        elif raw.strip():
            lines.append(raw)
    return header, lines


def _start(h: dict[str, str]) -> float:
    return datetime.fromisoformat(h["start"].replace("Z", "+00:00")).timestamp()


def test_rr_lines_equal_archive_ticks(exported: Exported, month_archive: Archive, month: Month) -> None:
    """All RR lines, file after file, are the archive's RR values to the strap's 1/1024 s tick."""
    files = sorted(exported.files("*_rr_*.txt"), key=lambda p: _start(read_rr_file(p)[0]))
    values = [float(x) for f in files for x in read_rr_file(f)[1]]
    archive_rr = [
        r[0] for r in month_archive.query("SELECT rr_ms FROM beats WHERE user = ? ORDER BY t", (month.user,))
    ]
    assert len(values) == len(archive_rr)
    assert [round(v * 1.024) for v in values] == [round(r * 1.024) for r in archive_rr]


def test_rr_text_survives_parse_and_rewrite(exported: Exported) -> None:
    """Parsing an RR file and writing the values again gives the same lines (3 fixed decimals)."""
    for f in exported.files("*_rr_*.txt")[:5]:
        _, lines = read_rr_file(f)
        again = format_rr(np.array([float(x) for x in lines])).splitlines()
        assert again == lines
        assert all(len(x.split(".")[1]) == 3 for x in lines)


def test_header_names_device_label_start_and_note(exported: Exported) -> None:
    """Each file starts with the '#' header lines: device, label (not the user id), start, beats, note."""
    f = exported.files("*_rr_*.txt")[0]
    text = f.read_text(encoding="utf-8").splitlines()
    assert all(x.startswith("#") for x in text[:HEADER_LINES])
    assert not text[HEADER_LINES].startswith("#")
    header, lines = read_rr_file(f)
    assert set(HEADER_KEYS) <= set(header)
    assert header["device"] == "sim-strap"
    assert header["label"] == LABEL
    assert int(header["beats"]) == len(lines)


def test_start_plus_rr_sum_gives_beat_times(exported: Exported, month_archive: Archive, month: Month) -> None:
    """Header start + RR is the first beat's time (to 1 ms); the running sum stays within the clock's drift bound."""
    f = exported.files("*_rr_*.txt")[0]
    header, lines = read_rr_file(f)
    t = _start(header) + np.cumsum([float(x) for x in lines]) / 1000.0
    stored = np.array(
        [
            r[0]
            for r in month_archive.query(
                "SELECT t FROM beats WHERE user = ? ORDER BY t LIMIT ?", (month.user, len(lines))
            )
        ]
    )
    assert abs(t[0] - stored[0]) < 0.001
    # the archive's beat clock also follows the notification arrival clock slowly (at most 1.5 s apart)
    assert np.max(np.abs(t - stored)) < BeatClock(device="d", user="u").max_drift_s


def test_each_gap_starts_a_new_file(exported: Exported, month_archive: Archive, month: Month) -> None:
    """One file per wear day, plus one more after every gap the archive recorded (disconnect, drift)."""
    gaps = month_archive.query("SELECT start_t FROM gaps WHERE user = ?", (month.user,))
    assert any(r for r in month_archive.query("SELECT 1 FROM gaps WHERE reason = 'disconnect'"))
    files = exported.files("*_rr_*.txt")
    assert len(files) == len(WEAR_DAYS) + len(gaps)
    starts = sorted(_start(read_rr_file(f)[0]) for f in files)
    for (gap_start,) in gaps:
        first_after = month_archive.query(
            "SELECT t, rr_ms FROM beats WHERE user = ? AND t > ? ORDER BY t LIMIT 1", (month.user, gap_start)
        )[0]
        expected = first_after[0] - first_after[1] / 1000.0
        assert min(abs(s - expected) for s in starts) < 0.001


def test_time_jump_without_gap_record_starts_a_new_file(tmp_path: Path) -> None:
    """Beats 10 minutes apart with no gap row still go to two files."""
    with Archive.in_dir(tmp_path / "a") as archive:
        t0 = 1_800_000_000.0
        first = [Beat(t0 + 0.8 * (i + 1), 800.0, "dev", "u") for i in range(50)]
        second = [Beat(t0 + 600 + 0.8 * (i + 1), 800.0, "dev", "u") for i in range(50)]
        archive.add_beats(first + second)
        archive.commit()
        data = load(archive, ExportRange("u", t0, t0 + 3600))
        with Staging(tmp_path / "out") as stage:
            assert write(data, stage) == 2
    files = sorted((tmp_path / "out").glob("*.txt"))
    assert [len(read_rr_file(f)[1]) for f in files] == [50, 50]


def test_reimport_into_fresh_archive_gives_identical_file(exported: Exported, tmp_path: Path) -> None:
    """RR file -> beats placed from its header start (sensors.beats.beats_from_rr) -> fresh archive -> same file."""
    f = exported.files("*_rr_*.txt")[3]
    header, lines = read_rr_file(f)
    with Archive.in_dir(tmp_path / "fresh") as archive:
        beats = beats_from_rr(
            [float(x) for x in lines], start_t=_start(header), device=header["device"], user="u"
        )
        archive.add_beats(beats)
        archive.commit()
        data = load(archive, ExportRange("u", beats[0].t - 1, beats[-1].t + 1, label=LABEL))
        with Staging(tmp_path / "again") as stage:
            assert write(data, stage) == 1
    (again,) = (tmp_path / "again").glob("*.txt")
    assert again.name == f.name
    assert again.read_text(encoding="utf-8") == f.read_text(encoding="utf-8")


def test_round_trip_through_calmstrap_import(month: Month, tmp_path: Path) -> None:
    """Export kubios, `calmstrap import` every file into a fresh data dir, export again: identical RR lines."""
    week = ("--from", month.first_day, "--to", FIRST_WEEK_LAST_DAY, "--format", "kubios", "--label", LABEL)
    first = tmp_path / "first"
    proc = run_cli(
        "export", "--data-dir", str(month.data_dir), "--user", month.user, *week, "--out", str(first)
    )
    assert proc.returncode == 0, proc.stderr
    files = sorted(first.glob("*_rr_*.txt"))
    assert len(files) > 5  # five wear days, the disconnect day in two files
    fresh = tmp_path / "fresh"

    def import_file(f: Path) -> subprocess.CompletedProcess[str]:
        header, _ = read_rr_file(f)
        # import reads only the RR lines; where and on which strap they were is told on the command line
        where = ("--start", header["start"], "--device", header["device"])
        return run_cli("import", str(f), "--data-dir", str(fresh), "--user", "bob", *where)

    # the first import creates the archive; the others run three at a time beside one another
    with ThreadPoolExecutor(3) as pool:
        for proc in [import_file(files[0]), *pool.map(import_file, files[1:])]:
            assert proc.returncode == 0, proc.stderr
    again = tmp_path / "again"
    proc = run_cli("export", "--data-dir", str(fresh), "--user", "bob", *week, "--out", str(again))
    assert proc.returncode == 0, proc.stderr
    files_again = sorted(again.glob("*_rr_*.txt"))
    assert [f.name for f in files_again] == [f.name for f in files]
    for f, g in zip(files, files_again, strict=True):
        (h1, rr1), (h2, rr2) = read_rr_file(f), read_rr_file(g)
        assert rr2 == rr1
        assert h2 == h1
