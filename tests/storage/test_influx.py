"""The InfluxDB writer against a real InfluxDB 1.x and, for the v2 wire format, a recording HTTP server."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calmstrap.config import load_config
from sensors.beats import Beat, Gap, GapReason
from storage.archive import SEQ_TABLES, Archive
from storage.influx import (
    ALLOWED_TAGS,
    MEASUREMENTS,
    InfluxRejected,
    InfluxUnavailable,
    InfluxWriter,
    LineEncoder,
    TimeRange,
    V1Sink,
    V2Sink,
    measurement_for,
    sink_from_config,
)
from tests.storage.conftest import DB, RecordingServer
from tests.support.influxdb import InfluxServer

T0 = 1_780_000_000.0


def beats(n: int, user: str = "u1", device: str = "strap-1", t0: float = T0) -> list[Beat]:
    return [Beat(t=t0 + 0.8 * i, rr_ms=800.0 + (i % 7), device=device, user=user) for i in range(n)]


def fill_every_table(a: Archive, user: str = "u1") -> None:
    """One row in every archive table, with every nullable column NULL (the sparsest possible point)."""
    a.add_beats(beats(3, user=user))
    a.add_gap(Gap(T0 + 10, T0 + 20, "strap-1", user, GapReason.DISCONNECT))
    seq = a._seq
    rows = {
        "windows": "INSERT INTO windows (seq, user, device, channel, t, window_s, valid) VALUES (?,?,'s','60s',?,60,0)",
        "arousal": "INSERT INTO arousal (seq, user, t, score, a, state, warming_up, gated)"
        " VALUES (?,?,?,50,0.1,'calm',1,0)",
        "episodes": "INSERT INTO episodes (seq, user, onset_t, id, peak_t, end_t, peak_score, peak_a, amplitude,"
        " amplitude_a, duration_s, recovery_s, t50_s, area_a_s, prompt_ids) VALUES (?,?,?,'e1',1,2,3,4,5,6,7,8,9,10,'[]')",
        "prompts": "INSERT INTO prompts (seq, user, t, id, kind, template_id, title, body, duration_s, expires_t)"
        " VALUES (?,?,?,'p1','sigh','sigh-1','A \"sigh\", slow','body',30,0)",
        "baseline": "INSERT INTO baseline (seq, user, t, hr_bpm, hr_sd, ln_rmssd, ln_rmssd_sd, n_windows, source)"
        " VALUES (?,?,?,60,3,3.7,0.3,48,'population')",
        "device_status": "INSERT INTO device_status (seq, user, t, device) VALUES (?,?,?,'s')",
        "motion": "INSERT INTO motion (seq, user, t, device, intensity) VALUES (?,?,?,'s',0.2)",
        "weekly_progress": "INSERT INTO weekly_progress (seq, user, week_start_t, week) VALUES (?,?,?,'2026-W40')",
        "controls": "INSERT INTO controls (seq, user, t, id, stage, basis) VALUES (?,?,?,'c1','onset','held back')",
        "practice": "INSERT INTO practice (seq, user, start_t, id, end_t, minutes, breaths_per_min, origin,"
        " completed, n_beats) VALUES (?,?,?,'pr1',0,1,6,'page',1,0)",
    }
    for i, sql in enumerate(rows.values(), start=1):
        a.conn.execute(sql, (seq + i, user, T0 + i))
    a._seq = seq + len(rows)
    a.commit()


def counts_match(a: Archive, server: InfluxServer) -> dict[str, tuple[int, int]]:
    return {m.name: (a.count(m.table), server.count(m.name, DB)) for m in MEASUREMENTS}


def test_field_map_covers_every_archive_table_with_allowed_tags() -> None:
    """Every archive table has a measurement, and tags are only user, device, window, kind."""
    assert sorted(m.table for m in MEASUREMENTS) == sorted(SEQ_TABLES)
    for m in MEASUREMENTS:
        assert {t.key for t in m.tags} <= ALLOWED_TAGS, m.name
    names = {m.table: m.name for m in MEASUREMENTS}
    for table, name in [("beats", "beat"), ("windows", "hrv"), ("arousal", "arousal")]:
        assert names[table] == name
    for table, name in [("episodes", "episode"), ("prompts", "prompt"), ("baseline", "baseline")]:
        assert names[table] == name


def test_sparsest_rows_of_every_table_are_accepted_and_counted(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """A row with every nullable column NULL still becomes one valid point, in every measurement."""
    with Archive(tmp_path / "a.db") as a:
        fill_every_table(a)
        w = InfluxWriter(a, V1Sink(influxdb.url, DB))
        assert w.drain() == sum(a.count(t) for t in SEQ_TABLES)
        for name, (archive_n, influx_n) in counts_match(a, influxdb).items():
            assert archive_n == influx_n > 0, name


def test_escaped_tag_and_string_values_round_trip_through_the_server(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """Spaces, commas, equals signs and quotes in tags and string fields come back unchanged."""
    user = 'ann, b=c "d" x\\y'
    with Archive(tmp_path / "a.db") as a:
        fill_every_table(a, user=user)
        InfluxWriter(a, V1Sink(influxdb.url, DB)).drain()
    res = influxdb.query('SELECT "title", "user", "kind" FROM "prompt"', DB)
    _, title, got_user, kind = res[0]["series"][0]["values"][0]
    assert (title, got_user, kind) == ('A "sigh", slow', user, "sigh")


def test_line_protocol_uses_millisecond_timestamps_and_typed_fields(tmp_path: Path) -> None:
    """Integers carry the i suffix, NULLs are left out, tags are escaped and the time is epoch ms."""
    with Archive(tmp_path / "a.db") as a:
        a.add_beats([Beat(t=1_780_000_000.1234, rr_ms=812.5, device="dev 1", user="u,1")])
        a.add_device_status("u", "d", 1.0, None, True)
        a.commit()
        lines = {}
        for table in ("beats", "device_status"):
            enc = LineEncoder(measurement_for(table))
            (lines[table],) = enc.encode(a.conn.execute(enc.select_sql(), (0, 10)).fetchall())
    assert lines["beats"] == "beat,device=dev\\ 1,user=u\\,1 rr_ms=812.5,artifact=0i 1780000000123\n"
    assert lines["device_status"] == "strap,device=d,user=u has_battery=0i,connected=1i 1000\n"


def test_values_written_equal_the_archive(tmp_path: Path, influxdb: InfluxServer) -> None:
    """RR values and times read back from InfluxDB equal the archive's (ms precision)."""
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(50))
        a.commit()
        InfluxWriter(a, V1Sink(influxdb.url, DB)).drain()
        expected = [(round(t * 1000), rr) for t, rr in a.query("SELECT t, rr_ms FROM beats ORDER BY t")]
    res = influxdb.query('SELECT "rr_ms" FROM "beat"', DB, epoch="ms")
    assert [tuple(v) for v in res[0]["series"][0]["values"]] == expected


def test_replay_overwrites_instead_of_duplicating(tmp_path: Path, influxdb: InfluxServer) -> None:
    """Sending everything again (watermarks reset) leaves every count unchanged."""
    with Archive(tmp_path / "a.db") as a:
        fill_every_table(a)
        w = InfluxWriter(a, V1Sink(influxdb.url, DB))
        w.drain()
        first = counts_match(a, influxdb)
        w.reset()
        assert w.drain() > 0
        assert w.push_span(TimeRange(None, None)) > 0
        assert counts_match(a, influxdb) == first


def test_an_updated_row_is_sent_again_as_the_same_point(tmp_path: Path, influxdb: InfluxServer) -> None:
    """A prompt's later outcome goes out (its seq grew) and overwrites the earlier point."""
    with Archive(tmp_path / "a.db") as a:
        fill_every_table(a)
        w = InfluxWriter(a, V1Sink(influxdb.url, DB))
        w.drain()
        a.set_prompt_feedback("p1", True)
        a.commit()
        assert w.pending()["prompts"] == 1
        assert w.drain() == 1
    assert influxdb.count("prompt", DB) == 1
    res = influxdb.query('SELECT "outcome" FROM "prompt"', DB)
    assert res[0]["series"][0]["values"][0][1] == "helped"


def test_watermark_stays_when_the_server_is_down(tmp_path: Path, influxdb: InfluxServer) -> None:
    """An unreachable server raises InfluxUnavailable and moves no watermark."""
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(10))
        a.commit()
        w = InfluxWriter(a, V1Sink(influxdb.url, DB))
        influxdb.stop()
        with pytest.raises(InfluxUnavailable):
            w.drain()
        assert w.watermark("beats") == 0
        assert w.pending()["beats"] == 10


def test_watermark_stays_when_the_server_refuses(tmp_path: Path, recording_server: RecordingServer) -> None:
    """A 4xx (here: a server answering 403) raises InfluxRejected and moves no watermark."""
    recording_server.status = 403
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(10))
        a.commit()
        w = InfluxWriter(a, V1Sink(recording_server.url, "calmstrap"))
        with pytest.raises(InfluxRejected) as err:
            w.drain()
        assert err.value.status == 403
        assert w.pending()["beats"] == 10


def test_batches_follow_seq_order_and_batch_size(tmp_path: Path, recording_server: RecordingServer) -> None:
    """Rows go out in seq order, at most batch_size lines per request."""
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(25))
        a.commit()
        InfluxWriter(a, V1Sink(recording_server.url, DB), batch_size=10).drain()
    sizes = [len(r.body.splitlines()) for r in recording_server.requests]
    assert sizes == [10, 10, 5]
    stamps = [int(line.rsplit(b" ", 1)[1]) for r in recording_server.requests for line in r.body.splitlines()]
    assert stamps == sorted(stamps) and len(set(stamps)) == 25


def test_backlog_drains_in_order_after_an_outage(tmp_path: Path, influxdb: InfluxServer) -> None:
    """The background loop keeps running through an outage and writes everything once the server is back."""

    async def scenario(a: Archive) -> None:
        w = InfluxWriter(a, V1Sink(influxdb.url, DB), batch_size=100)
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(0.05, stop, max_backoff_s=0.2), name="influx-drain")
        a.add_beats(beats(100))
        a.commit()
        for _ in range(100):
            if w.pending()["beats"] == 0:
                break
            await asyncio.sleep(0.02)
        influxdb.stop()
        a.add_beats(beats(300, t0=T0 + 1000))
        a.commit()
        await asyncio.sleep(0.3)
        assert w.pending()["beats"] == 300 and not task.done()
        influxdb.start()
        for _ in range(200):
            if w.pending()["beats"] == 0:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task
        assert w.pending()["beats"] == 0

    with Archive(tmp_path / "a.db") as a:
        asyncio.run(scenario(a))
        assert influxdb.count("beat", DB) == a.count("beats") == 400


def test_v2_request_carries_org_bucket_precision_and_token(
    tmp_path: Path, recording_server: RecordingServer
) -> None:
    """A v2 write posts to /api/v2/write with the org, bucket, precision and token the settings name."""
    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t-token\n")
    cfg = load_config(
        env={
            "CALMSTRAP_INFLUX__URL": recording_server.url,
            "CALMSTRAP_INFLUX__API": "v2",
            "CALMSTRAP_INFLUX__ORG": "home org",
            "CALMSTRAP_INFLUX__BUCKET": "calm/autogen",
            "CALMSTRAP_INFLUX__TOKEN_FILE": str(token_file),
        }
    )
    sink = sink_from_config(cfg.influx)
    assert isinstance(sink, V2Sink)
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(3))
        a.commit()
        InfluxWriter(a, sink).drain()
    sink.close()
    (req,) = recording_server.requests
    url = urllib.parse.urlsplit(req.path)
    assert url.path == "/api/v2/write"
    assert urllib.parse.parse_qs(url.query) == {
        "org": ["home org"],
        "bucket": ["calm/autogen"],
        "precision": ["ms"],
    }
    assert req.headers["authorization"] == "Token s3cr3t-token"
    assert (
        req.body.decode().splitlines()[0].startswith("beat,device=strap-1,user=u1 rr_ms=800.0,artifact=0i ")
    )


def test_v1_request_carries_database_retention_policy_and_credentials(
    tmp_path: Path, recording_server: RecordingServer
) -> None:
    """A v1 write posts to /write with db, rp, precision and HTTP Basic credentials from a password file."""
    pw = tmp_path / "pw"
    pw.write_text("pa:ss\n")
    cfg = load_config(
        env={
            "CALMSTRAP_INFLUX__URL": recording_server.url,
            "CALMSTRAP_INFLUX__API": "v1",
            "CALMSTRAP_INFLUX__DATABASE": "calm",
            "CALMSTRAP_INFLUX__RETENTION_POLICY": "one_year",
            "CALMSTRAP_INFLUX__USERNAME": "writer",
            "CALMSTRAP_INFLUX__PASSWORD_FILE": str(pw),
        }
    )
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(3))
        a.commit()
        InfluxWriter(a, sink_from_config(cfg.influx)).drain()
    (req,) = recording_server.requests
    url = urllib.parse.urlsplit(req.path)
    assert url.path == "/write"
    assert urllib.parse.parse_qs(url.query) == {"db": ["calm"], "rp": ["one_year"], "precision": ["ms"]}
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"writer:pa:ss").decode()


@pytest.mark.parametrize(("status", "error"), [(503, InfluxUnavailable), (401, InfluxRejected)])
def test_v2_errors_keep_the_watermark(
    tmp_path: Path, recording_server: RecordingServer, status: int, error: type[Exception]
) -> None:
    """A v2 5xx means unavailable, a 4xx rejected; neither moves the watermark."""
    recording_server.status = status
    sink = V2Sink(recording_server.url, "o", "b", "t")
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(3))
        a.commit()
        w = InfluxWriter(a, sink)
        with pytest.raises(error):
            w.drain()
        assert w.pending()["beats"] == 3
    sink.close()


def test_other_sinks_keep_their_own_watermarks(tmp_path: Path, influxdb: InfluxServer) -> None:
    """Pointing at another database starts from zero there; the first one's watermarks stay."""
    influxdb.create_database("other")
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(20))
        a.commit()
        InfluxWriter(a, V1Sink(influxdb.url, DB)).drain()
        w2 = InfluxWriter(a, V1Sink(influxdb.url, "other"))
        assert w2.pending()["beats"] == 20
        w2.drain()
    assert influxdb.count("beat", "other") == 20


def test_a_refused_batch_is_reported_without_its_heart_data(tmp_path: Path, influxdb: InfluxServer) -> None:
    """The server's 400 echoes the bad line; the error keeps the reason but not the RR values."""
    influxdb.query(f'CREATE DATABASE "{DB}"')
    body = b"beat,device=d,user=u rr_ms=812.5,artifact=0i 1000\nbeat,device=d,user=u rr_ms=8x1 2000\n"
    with pytest.raises(InfluxRejected) as err:
        V1Sink(influxdb.url, DB).write(body)
    assert err.value.status == 400
    assert "8x1" not in str(err.value) and "rr_ms" not in str(err.value)
    assert "unable to parse" in str(err.value)


def test_credentials_in_the_url_never_reach_messages_or_watermark_keys() -> None:
    """A user:password@ in influx.url is dropped from the sink's url and key."""
    sink = V1Sink("http://writer:s3cret@127.0.0.1:1/", DB)
    assert "s3cret" not in sink.url + sink.key
    assert sink.url == "http://127.0.0.1:1"


def test_v1_delete_user_removes_only_that_users_points(tmp_path: Path, influxdb: InfluxServer) -> None:
    """delete_user drops every series of one user (quotes in the name included) and keeps the others."""
    odd = "o'neil"
    with Archive(tmp_path / "a.db") as a:
        a.add_beats(beats(5, user=odd))
        a.add_beats(beats(7, user="keep"))
        fill_every_table(a, user=odd)
        a.commit()
        sink = V1Sink(influxdb.url, DB)
        InfluxWriter(a, sink).drain()
        sink.delete_user(odd)
    res = influxdb.query('SELECT COUNT("rr_ms") FROM "beat" GROUP BY "user"', DB)
    assert [(s["tags"]["user"], s["values"][0][1]) for s in res[0]["series"]] == [("keep", 7)]
    assert influxdb.count("prompt", DB) == 0


def test_v2_delete_user_names_org_bucket_and_predicate(
    tmp_path: Path, recording_server: RecordingServer
) -> None:
    """A v2 delete posts to /api/v2/delete with the org, bucket, token and a user predicate."""
    sink = V2Sink(recording_server.url, "home", "calm", "tok")
    sink.delete_user("demo")
    sink.close()
    (req,) = recording_server.requests
    url = urllib.parse.urlsplit(req.path)
    assert url.path == "/api/v2/delete"
    assert urllib.parse.parse_qs(url.query) == {"org": ["home"], "bucket": ["calm"]}
    assert req.headers["authorization"] == "Token tok"
    assert json.loads(req.body)["predicate"] == 'user="demo"'


_example = itertools.count()
_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\n"),
    min_size=1,
    max_size=20,
).filter(lambda s: not s.endswith("\\"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=_names, title=_names)
def test_any_user_name_and_prompt_title_round_trip(
    tmp_path: Path, influxdb: InfluxServer, user: str, title: str
) -> None:
    """Whatever the characters, InfluxDB reads back exactly the user tag and title string written."""
    db = f"prop{next(_example)}"
    influxdb.create_database(db)
    path = tmp_path / f"p{abs(hash((user, title)))}.db"
    with Archive(path) as a:
        fill_every_table(a, user=user)
        a.conn.execute("UPDATE prompts SET title = ?", (title,))
        a.commit()
        InfluxWriter(a, V1Sink(influxdb.url, db)).drain()
    path.unlink()
    res = influxdb.query('SELECT "title", "user" FROM "prompt"', db)
    assert res[0]["series"][0]["values"][0][1:] == [title, user]
