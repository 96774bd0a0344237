"""``calmstrap import`` on the inputs that used to go wrong: epoch units, bad --start, duplicates, headers,
calmstrap's own Kubios export, and an import killed half-way."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from calmstrap.cmd_import import CHUNK_BEATS
from storage.archive import SEQ_TABLES
from tests.calmstrap.conftest import cli_env

T0 = 1_700_000_000.0


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        cwd=cwd,
    )


def _rows(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _all_empty(db: Path) -> bool:
    return all(_rows(db, f"SELECT COUNT(*) FROM {t}")[0][0] == 0 for t in SEQ_TABLES)


@pytest.mark.parametrize("scale", [1, 1000, 1_000_000], ids=["s", "ms", "us"])
def test_epoch_units_of_a_csv_are_detected(tmp_path: Path, scale: int) -> None:
    """Epoch seconds, milliseconds and microseconds in the time column all give the same beat times."""
    times = T0 + 0.8 * np.arange(1, 301)
    f = tmp_path / "rr.csv"
    f.write_text("time,rr\n" + "".join(f"{t * scale:.3f},800\n" for t in times), encoding="utf-8")
    res = _cli("import", str(f), "--user", "u", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    got = [t for (t,) in _rows(tmp_path / "d" / "archive.db", "SELECT t FROM beats ORDER BY t")]
    assert len(got) == 300
    assert np.max(np.abs(np.array(got) - times)) < 1e-3


def test_times_in_no_epoch_unit_are_refused_with_a_hint(tmp_path: Path) -> None:
    """Elapsed seconds in the time column: refused naming the line, with the --start hint, nothing stored."""
    f = tmp_path / "rr.csv"
    f.write_text("time,rr\n0.8,800\n1.6,800\n", encoding="utf-8")
    res = _cli("import", str(f), "--user", "u", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert res.returncode == 1
    assert "line 2" in res.stderr and "--start" in res.stderr and "nothing imported" in res.stderr
    assert _all_empty(tmp_path / "d" / "archive.db") if (tmp_path / "d" / "archive.db").exists() else True


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ("inf", "finite"),
        ("nan", "finite"),
        ("1e20", "would not lie"),
        ("1700000000000", "milliseconds"),
        ("-5", "would not lie"),
        ("yesterday", "ISO 8601"),
    ],
)
def test_a_bad_start_is_refused_before_anything_is_written(tmp_path: Path, start: str, says: str) -> None:
    """--start that is not finite, not plausible or not a time: exit 2 saying why, the archive untouched."""
    f = tmp_path / "rr.txt"
    f.write_text("800\n" * 50, encoding="utf-8")
    d = tmp_path / "d"
    res = _cli("import", str(f), "--user", "u", "--data-dir", str(d), f"--start={start}", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert says in res.stderr and "Traceback" not in res.stderr
    assert not (d / "archive.db").exists() or _all_empty(d / "archive.db")


def test_duplicate_rows_are_reported_as_duplicates(tmp_path: Path) -> None:
    """200 rows of which 100 repeat the time before: 100 beats stored, and the output says so."""
    lines = ["time,rr"]
    for i in range(100):
        lines += [f"{T0 + 0.8 * (i + 1):.3f},800"] * 2
    f = tmp_path / "rr.csv"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = _cli("import", str(f), "--user", "u", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "imported 100 beats" in res.stdout and "100 duplicate rows" in res.stdout
    assert _rows(tmp_path / "d" / "archive.db", "SELECT COUNT(*) FROM beats") == [(100,)]


def test_a_one_column_csv_with_an_rr_header_is_csv(tmp_path: Path) -> None:
    """`rr` then values: read as one-column CSV (not Kubios failing on line 1)."""
    f = tmp_path / "rr.csv"
    f.write_text("rr\n" + "810\n" * 120, encoding="utf-8")
    res = _cli(
        "import", str(f), "--user", "u", "--data-dir", str(tmp_path / "d"), "--start", str(T0), cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert "imported 120 beats (csv" in res.stdout


def test_reimporting_calmstraps_kubios_export_keeps_its_times(tmp_path: Path) -> None:
    """Import, export as Kubios, import the export into a new archive: beats at the same times (its `# start:`)."""
    rr = np.load(Path(__file__).resolve().parents[1] / "fixtures" / "SampleNNISeriesShort.npy").astype(float)
    src = tmp_path / "src.txt"
    src.write_text("".join(f"{v:g}\n" for v in rr), encoding="utf-8")
    a = tmp_path / "a"
    res = _cli("import", str(src), "--user", "u", "--data-dir", str(a), "--start", str(T0), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    day = datetime.fromtimestamp(T0, UTC).date().isoformat()
    out = tmp_path / "out"
    res = _cli(
        "export", "--user", "u", "--from", day, "--to", day, "--format", "kubios", "--out", str(out),
        "--data-dir", str(a), "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (exported,) = list(out.rglob("*.txt"))
    assert "# start:" in exported.read_text(encoding="utf-8")
    time.sleep(0.05)
    exported.touch()  # a modification time far from the recording: it must not be used
    b = tmp_path / "b"
    res = _cli("import", str(exported), "--user", "u", "--data-dir", str(b), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ta = np.array([t for (t,) in _rows(a / "archive.db", "SELECT t FROM beats ORDER BY t")])
    tb = np.array([t for (t,) in _rows(b / "archive.db", "SELECT t FROM beats ORDER BY t")])
    assert ta.shape == tb.shape
    assert np.max(np.abs(ta - tb)) < 0.01  # 3-decimal ms RR summed over the recording


def test_an_import_killed_half_way_is_removed_by_the_next_one(tmp_path: Path) -> None:
    """kill -9 during a large import, then another import: the first one's rows are all gone."""
    big = tmp_path / "big.txt"
    big.write_text("800\n" * 400_000, encoding="utf-8")
    d = tmp_path / "d"
    db = d / "archive.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "calmstrap", "import", str(big), "--user", "big", "--data-dir", str(d),
         "--start", str(T0)],
        env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            n = 0
            if db.exists():
                try:
                    n = int(_rows(db, "SELECT COUNT(*) FROM import_chunks")[0][0])
                except sqlite3.OperationalError:
                    n = 0
            if n >= 2:
                break
            assert proc.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "no chunk committed within 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert _rows(db, "SELECT COUNT(*) FROM beats WHERE user = 'big'")[0][0] >= 2 * CHUNK_BEATS
    small = tmp_path / "small.txt"
    small.write_text("800\n" * 100, encoding="utf-8")
    res = _cli("import", str(small), "--user", "s", "--data-dir", str(d), "--start", str(T0), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "removed an interrupted import" in res.stderr
    assert _rows(db, "SELECT COUNT(*) FROM beats WHERE user = 'big'") == [(0,)]
    assert _rows(db, "SELECT COUNT(*) FROM windows WHERE user = 'big'") == [(0,)]
    assert _rows(db, "SELECT COUNT(*) FROM beats WHERE user = 's'") == [(100,)]
    assert _rows(db, "SELECT state FROM imports") == [("done",)]
