"""Poison data isolated: a point InfluxDB refuses for good is quarantined and everything else arrives."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sensors.beats import Beat
from storage.archive import Archive
from storage.influx import InfluxRejected, InfluxWriter, V1Sink
from tests.storage.conftest import DB, RecordingServer
from tests.support.influxdb import InfluxServer

T0 = 1_780_000_000.0
OLD_T = T0 - 60 * 86400.0
"""Two months earlier: another shard of InfluxDB's autogen policy, where a field type conflict is planted."""


def _plant_string_rr(server: InfluxServer, t: float) -> None:
    """An rr_ms point of type string in the shard of ``t``: a float rr_ms there is a field type conflict."""
    body = f'beat,device=other,user=other rr_ms="x" {int(t * 1000)}\n'.encode()
    req = urllib.request.Request(f"{server.url}/write?db={DB}&precision=ms", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204


def _beats_of_u(server: InfluxServer) -> int:
    res = server.query("SELECT COUNT(artifact) FROM beat WHERE \"user\" = 'u'", DB)
    series = res[0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def _archive_with_one_poison_beat(path: Path, n: int) -> Archive:
    a = Archive(path)
    a.add_beats([Beat(t=T0 + 0.8 * i, rr_ms=800.0 + i % 9, device="s", user="u") for i in range(n // 2)])
    a.add_beats([Beat(t=OLD_T, rr_ms=812.0, device="s", user="u")])
    a.add_beats([Beat(t=T0 + 0.8 * i, rr_ms=800.0, device="s", user="u") for i in range(n // 2, n)])
    a.add_device_status("u", "s", T0, 80.0, True)
    a.commit()
    return a


def test_one_refused_point_is_quarantined_and_the_rest_arrives(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """A field type conflict on one beat: every other beat and row reaches InfluxDB, that one is quarantined."""
    _plant_string_rr(influxdb, OLD_T)
    a = _archive_with_one_poison_beat(tmp_path / "archive.db", 3000)
    try:
        writer = InfluxWriter(a, V1Sink(influxdb.url, DB), batch_size=1000)
        written = writer.drain()
        assert written == 3002
        assert writer.rows_quarantined == 1
        assert _beats_of_u(influxdb) == 3000  # every beat but the refused one
        assert influxdb.count("strap", DB) == 1
        rows = a.query("SELECT tbl, row_seq, status, reason, line FROM influx_quarantine")
        assert len(rows) == 1
        tbl, seq, status, reason, line = rows[0]
        assert tbl == "beats" and status == 400 and "field type conflict" in reason
        assert a.query("SELECT t FROM beats WHERE seq = ?", (seq,)) == [(OLD_T,)]
        assert line.startswith("beat,") and "rr_ms=812" in line
        assert sum(writer.pending().values()) == 0  # the watermark passed it: nothing blocks
    finally:
        a.close()


def test_the_async_drain_quarantines_too_and_warns(
    tmp_path: Path, influxdb: InfluxServer, caplog: object
) -> None:
    """The service's drain isolates the refused point the same way and logs one WARNING naming the reason."""
    import logging

    _plant_string_rr(influxdb, OLD_T)
    a = _archive_with_one_poison_beat(tmp_path / "archive.db", 200)
    try:
        writer = InfluxWriter(a, V1Sink(influxdb.url, DB), batch_size=64)
        with caplog.at_level(logging.WARNING, logger="calmstrap.influx"):  # type: ignore[attr-defined]
            asyncio.run(writer.drain_async())
        assert _beats_of_u(influxdb) == 200
        assert a.query("SELECT COUNT(*) FROM influx_quarantine")[0][0] == 1
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]  # type: ignore[attr-defined]
        assert len(warnings) == 1 and "quarantine" in warnings[0].getMessage()
        assert "812" not in warnings[0].getMessage()  # no RR value in the log
    finally:
        a.close()


def test_a_refused_request_is_not_retried_as_an_outage(
    tmp_path: Path, recording_server: RecordingServer
) -> None:
    """A 403 (not allowed to write; a missing 1.x database is created instead) ends the final drain at once,
    quarantining nothing, every row still pending."""
    recording_server.status = 403
    a = _archive_with_one_poison_beat(tmp_path / "archive.db", 100)
    try:
        writer = InfluxWriter(a, V1Sink(recording_server.url, "calmstrap"), batch_size=50)
        try:
            writer.drain()
        except InfluxRejected as exc:
            assert exc.status == 403
        else:
            raise AssertionError("a refused write was taken")
        t0 = time.monotonic()
        left = asyncio.run(writer.final_drain(30.0))
        assert time.monotonic() - t0 < 5.0
        assert left == a.count("beats") + a.count("device_status")
        assert a.query("SELECT COUNT(*) FROM influx_quarantine")[0][0] == 0
    finally:
        a.close()


def _sync(data: Path, influxdb: InfluxServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        CALMSTRAP_INFLUX__URL=influxdb.url,
        CALMSTRAP_INFLUX__API="v1",
        CALMSTRAP_INFLUX__DATABASE=DB,
    )
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", "sync", "--data-dir", str(data), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=data.parent,
    )


def test_sync_reports_the_quarantined_count(tmp_path: Path, influxdb: InfluxServer) -> None:
    """`calmstrap sync` says how many rows were quarantined, and exits 0 (the rest was sent)."""
    _plant_string_rr(influxdb, OLD_T)
    data = tmp_path / "data"
    data.mkdir()
    _archive_with_one_poison_beat(data / "archive.db", 500).close()
    res = _sync(data, influxdb)
    assert res.returncode == 0, res.stderr
    with sqlite3.connect(data / "archive.db") as con:  # sync brings weekly progress up to date first
        weekly = con.execute("SELECT COUNT(*) FROM weekly_progress").fetchone()[0]
    assert f"synced {502 + weekly} rows" in res.stdout and "1 row quarantined" in res.stdout
    assert _beats_of_u(influxdb) == 500


def test_retry_quarantined_sends_again_once_the_cause_is_mended(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """`sync --retry-quarantined`: still refused while the conflict stands (kept, reason renewed); taken and
    out of the quarantine once it is gone."""
    _plant_string_rr(influxdb, OLD_T)
    data = tmp_path / "data"
    data.mkdir()
    _archive_with_one_poison_beat(data / "archive.db", 100).close()
    assert _sync(data, influxdb).returncode == 0
    with sqlite3.connect(data / "archive.db") as con:
        first_t = con.execute("SELECT quarantined_t FROM influx_quarantine").fetchone()[0]
    res = _sync(data, influxdb, "--retry-quarantined")
    assert res.returncode == 0, res.stderr
    assert "quarantine sent again: 0 taken, 1 still refused" in res.stdout
    with sqlite3.connect(data / "archive.db") as con:
        rows = con.execute("SELECT quarantined_t, reason FROM influx_quarantine").fetchall()
    assert len(rows) == 1 and rows[0][0] > first_t and "field type conflict" in rows[0][1]

    influxdb.query("DROP MEASUREMENT beat", DB)  # the person mends it: the conflicting field is gone
    res = _sync(data, influxdb, "--retry-quarantined")
    assert res.returncode == 0, res.stderr
    assert "quarantine sent again: 1 taken, 0 still refused" in res.stdout
    with sqlite3.connect(data / "archive.db") as con:
        assert con.execute("SELECT COUNT(*) FROM influx_quarantine").fetchone()[0] == 0
    assert _beats_of_u(influxdb) == 1  # exactly the row that was refused (the rest went with the measurement)
