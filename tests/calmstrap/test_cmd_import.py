"""``calmstrap import``: an RR file through processing into the archive, all or nothing."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _kubios(path: Path, rr_ms: np.ndarray) -> Path:
    lines = ["# Kubios HRV RR text", "# source: pyhrv SampleNNISeriesLong.npy", "# unit: ms"]
    lines += [f"{v:g}" for v in rr_ms]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_pyhrv_recording_imports_with_beats_equal_to_the_input(tmp_path: Path) -> None:
    """The 60-minute pyhrv recording as Kubios RR text: every archived beat equals its input RR within 1 ms."""
    rr = np.load(FIXTURES / "SampleNNISeriesLong.npy").astype(float)
    f = _kubios(tmp_path / "long.txt", rr)
    res = _cli(
        "import", str(f), "--user", "ana", "--data-dir", str(tmp_path / "data"), "--start", "1700000000"
    )
    assert res.returncode == 0, res.stderr
    assert "imported 4684 beats" in res.stdout
    beats = _rows(tmp_path / "data" / "archive.db", "SELECT t, rr_ms FROM beats WHERE user='ana' ORDER BY t")
    got = np.array([r for _, r in beats], dtype=float)
    assert got.shape == rr.shape
    assert np.max(np.abs(got - rr)) <= 1.0
    times = np.array([t for t, _ in beats], dtype=float)
    assert abs(times[-1] - (1_700_000_000 + rr.sum() / 1000.0)) < 1e-3
    windows = _rows(tmp_path / "data" / "archive.db", "SELECT COUNT(*) FROM windows")
    assert int(windows[0][0]) > 0  # it went through processing


def test_bad_line_17_fails_and_leaves_the_archive_unchanged(tmp_path: Path) -> None:
    """A file with a bad line 17 fails naming line 17 and imports nothing."""
    data = tmp_path / "data"
    good = _kubios(tmp_path / "good.txt", np.full(400, 800.0))
    assert _cli("import", str(good), "--user", "ben", "--data-dir", str(data)).returncode == 0
    tables = ("beats", "windows", "arousal", "gaps", "episodes", "baseline")
    before = {t: _rows(data / "archive.db", f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables}
    lines = ["# header"] * 2 + ["810"] * 14 + ["81O"] + ["810"] * 300
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = _cli("import", str(bad), "--user", "ben", "--data-dir", str(data))
    assert res.returncode == 1
    assert "line 17" in res.stderr and "nothing imported" in res.stderr
    after = {t: _rows(data / "archive.db", f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables}
    assert after == before


def test_failure_inside_processing_rolls_the_whole_import_back(tmp_path: Path) -> None:
    """An error after two committed chunks leaves no row of that import behind (one logical transaction)."""
    from calmstrap.cmd_import import import_recording
    from calmstrap.config import Config
    from sensors.replay import RRFormat, RRRecording
    from storage.archive import SEQ_TABLES, Archive

    rec = RRRecording(rr_ms=tuple([800.0] * 2000), t_s=None, format=RRFormat.KUBIOS, path="mem")

    class Boom(Exception):
        pass

    class ExplodingProgress:
        def update(self, done: int) -> None:
            if done > 1000:
                raise Boom

        def done(self) -> None:
            pass

    with Archive.in_dir(tmp_path) as archive:
        with contextlib.suppress(Boom):
            import_recording(
                Config(),
                archive,
                rec,
                user="cy",
                device="f",
                start_t=1.7e9,
                progress=ExplodingProgress(),
                chunk_beats=500,
            )
        for table in SEQ_TABLES:
            assert archive.count(table) == 0, table
        assert archive.query("SELECT COUNT(*) FROM imports")[0][0] == 0


def test_import_help_names_the_formats() -> None:
    """``calmstrap import --help`` works and documents the formats."""
    res = _cli("import", "--help")
    assert res.returncode == 0 and "Kubios" in res.stdout and "--data-dir" in res.stdout


def test_csv_with_timestamps_keeps_them_and_records_pauses_as_gaps(tmp_path: Path) -> None:
    """CSV with per-beat times: beats at those times, a 10 s pause stored as one gap."""
    rows = ["time,rr_ms"]
    t = 1_700_000_000.0
    for i in range(300):
        if i == 150:
            t += 10.0  # the strap lost contact for 10 s
        t += 0.8
        rows.append(f"{t:.3f},800")
    f = tmp_path / "rr.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = _cli("import", str(f), "--user", "dee", "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 0, res.stderr
    db = tmp_path / "d" / "archive.db"
    times = [t for (t,) in _rows(db, "SELECT t FROM beats ORDER BY t")]
    assert times[0] == 1_700_000_000.8 and abs(times[-1] - round(t, 3)) < 1e-6
    gaps = _rows(db, "SELECT start_t, end_t FROM gaps WHERE user='dee'")
    assert len(gaps) == 1 and abs((gaps[0][1] - gaps[0][0]) - 10.0) < 1e-6  # type: ignore[operator]


def test_importing_the_same_span_twice_is_refused(tmp_path: Path) -> None:
    """A second import over beats already archived for that user fails and adds nothing."""
    f = _kubios(tmp_path / "a.txt", np.full(300, 800.0))
    args = ("import", str(f), "--user", "eve", "--data-dir", str(tmp_path / "d"), "--start", "1700000000")
    assert _cli(*args).returncode == 0
    before = _rows(tmp_path / "d" / "archive.db", "SELECT COUNT(*) FROM windows")
    res = _cli(*args)
    assert res.returncode == 1 and "already has 300 beats" in res.stderr
    assert _rows(tmp_path / "d" / "archive.db", "SELECT COUNT(*) FROM windows") == before
