"""One writer per archive: `run` keeps going while import, export and sync work beside it; a second `run`
is refused; every row reaches InfluxDB; no two rows share a seq."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.schema import SEQ_TABLES
from tests.calmstrap.test_cmd_sync import DB, archive_vs_influx, calmstrap, env_for
from tests.support.influxdb import InfluxServer, running_influxdb


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxServer]:
    root = tmp_path / "influxdb"
    root.mkdir()
    with running_influxdb(root) as server:
        server.create_database(DB)
        yield server


def cli_popen(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "calmstrap", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )  # fmt: skip


def _count(db: Path, sql: str) -> int:
    try:
        con = sqlite3.connect(db)
        try:
            return int(con.execute(sql).fetchone()[0] or 0)
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def duplicated_seqs(db: Path) -> list[tuple[int, int]]:
    union = " UNION ALL ".join(f"SELECT seq FROM {t}" for t in SEQ_TABLES)
    con = sqlite3.connect(db)
    try:
        return con.execute(f"SELECT seq, COUNT(*) FROM ({union}) GROUP BY seq HAVING COUNT(*) > 1").fetchall()
    finally:
        con.close()


def test_run_survives_import_export_and_sync_beside_it(tmp_path: Path, influxdb: InfluxServer) -> None:
    """run --source sim with a large import, 3 exports and 3 syncs on its data dir: it keeps going, a second
    run exits 2 naming it, InfluxDB ends with every archive row, and no seq is shared."""
    d = tmp_path / "data"
    db = d / "archive.db"
    env = env_for(influxdb)
    run = subprocess.Popen(
        [sys.executable, "-m", "calmstrap", "run", "--source", "sim", "--speed", "20", "--data-dir", str(d)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while _count(db, "SELECT COUNT(*) FROM beats") < 50:
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            assert time.monotonic() < deadline, "run archived no beats within 60 s"
            time.sleep(0.2)

        big = tmp_path / "big.txt"
        big.write_text(
            "# a long recording\n" + "".join(f"{780 + i % 50}\n" for i in range(20_000)), encoding="utf-8"
        )
        # the second run, the import, and each round's export and sync run at the same time (beside one
        # another and the run), not one after the other
        second = cli_popen("run", "--source", "sim", "--data-dir", str(d), env=env, cwd=tmp_path)
        importer = cli_popen(
            "import", str(big), "--user", "imp", "--data-dir", str(d), "--start", "1700000000",
            env=env, cwd=tmp_path,
        )  # fmt: skip
        user = ""
        while not user:
            con = sqlite3.connect(db)
            row = con.execute("SELECT user FROM beats WHERE device = 'sim-strap' LIMIT 1").fetchone()
            con.close()
            user = row[0] if row else ""
            time.sleep(0.05)
        today = datetime.now(UTC).date().isoformat()
        for i in range(3):
            exp = cli_popen(
                "export", "--user", user, "--from", today, "--to", today, "--format", "csv",
                "--out", str(tmp_path / f"out{i}"), "--no-progress", "--data-dir", str(d), env=env, cwd=tmp_path,
            )  # fmt: skip
            syn = cli_popen("sync", "--data-dir", str(d), env=env, cwd=tmp_path)
            for name, proc in (("export", exp), ("sync", syn)):
                _out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, f"{name}: {err}"
            assert run.poll() is None, "run stopped while others wrote beside it"
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert f"process {run.pid}" in err
        out, err = importer.communicate(timeout=600)
        assert importer.returncode == 0, err
        assert "imported 20000 beats" in out
        assert run.poll() is None, "run stopped while the import wrote beside it"
        beats_now = _count(db, "SELECT COUNT(*) FROM beats WHERE device = 'sim-strap'")
        deadline = time.monotonic() + 10.0  # still going: more beats (one about every 50 ms at 20x)
        while _count(db, "SELECT COUNT(*) FROM beats WHERE device = 'sim-strap'") <= beats_now:
            assert time.monotonic() < deadline, "run archived no beat after the others were done"
            time.sleep(0.1)
    finally:
        run.send_signal(signal.SIGINT)
        rc = run.wait(timeout=60)
    assert rc == 0, run.stderr.read() if run.stderr else ""
    final = calmstrap("sync", "--data-dir", str(d), env=env, cwd=tmp_path)
    assert final.returncode == 0, final.stderr
    counts = archive_vs_influx(d, influxdb)
    assert {k: v[0] for k, v in counts.items()} == {k: v[1] for k, v in counts.items()}
    assert counts["beat"][0] >= 20_000 + 50
    assert duplicated_seqs(db) == []
