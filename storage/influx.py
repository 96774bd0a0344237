"""The InfluxDB writer: drains the archive into InfluxDB from a per-table watermark.

The archive is the spool. Every archive row carries ``seq`` (one archive-wide sequence that grows on every
insert and update); for each table the writer reads the rows above that table's watermark in ``seq`` order,
in batches, turns them into line protocol through the declarative :data:`MEASUREMENTS` table and posts
them. The watermark (``sync_watermark``, keyed by the sink and the table) moves only after the server
acknowledged the batch with a 2xx. When InfluxDB is down nothing moves: the backlog waits in the archive
and drains in order once the server answers again. A replay (a crash between the acknowledgement and the
watermark update, an updated prompt, ``calmstrap sync --from/--to``) writes the same series and timestamp
again, which InfluxDB treats as an overwrite, so nothing is ever counted twice.

Two wire paths:

* ``api = "v2"`` (InfluxDB 2.x, 3 Core): influxdb-client's synchronous ``WriteApi`` posting to
  ``/api/v2/write`` with ``org``, ``bucket``, ``precision`` and ``Authorization: Token``. The synchronous
  mode raises on any non-2xx and has no batching buffer of its own, so the archive stays the only spool.
* ``api = "v1"`` (InfluxDB 1.x): a plain ``http.client`` POST to ``/write?db=&rp=&precision=`` with HTTP
  Basic credentials. influxdb-client's 1.8 compatibility path targets ``/api/v2/write``, which InfluxDB
  before 1.8 does not have; the stdlib client works on every 1.x, keeps the connection alive between
  batches and hands back the status code directly.

Timestamps are written with an explicit precision of milliseconds (:data:`PRECISION`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import logging
import math
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from storage.archive import WINDOW_FEATURES, Archive
from storage.errors import StorageError

log = logging.getLogger("calmstrap.influx")

PRECISION = "ms"
"""Timestamp precision of every line written (``precision=ms`` on the request)."""
_TS_SCALE = 1000.0

ALLOWED_TAGS: frozenset[str] = frozenset({"user", "device", "window", "kind"})
"""The only tag keys (low cardinality: one series per user, strap, window length, kind)."""


# -- errors -------------------------------------------------------------------------------------------------
class InfluxError(StorageError):
    """Base of the InfluxDB writer's errors."""


class InfluxUnavailable(InfluxError):
    """The server could not be reached or answered 5xx/429: retry later, nothing was acknowledged."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"InfluxDB at {url} unavailable: {reason}")


class InfluxRejected(InfluxError):
    """The server refused the request (4xx): bad credentials, unknown database/bucket, bad data."""

    def __init__(self, url: str, status: int, message: str) -> None:
        self.url = url
        self.status = status
        self.message = message
        super().__init__(f"InfluxDB at {url} refused the write: HTTP {status}: {message}")


# -- the declarative map ------------------------------------------------------------------------------------
class FieldType(Enum):
    FLOAT = "float"
    INT = "integer"
    STR = "string"


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    expr: str
    """An SQL expression over the table's columns."""


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    expr: str
    """An SQL expression over the table's columns; NULL leaves the field out of that point."""
    type: FieldType = FieldType.FLOAT


@dataclass(frozen=True, slots=True)
class Measurement:
    """How one archive table becomes one InfluxDB measurement."""

    table: str
    name: str
    time_expr: str
    """SQL expression: the point's time in epoch seconds (with the tags, the point's identity)."""
    tags: tuple[Tag, ...]
    fields: tuple[Field, ...]
    """The first field must never be NULL (every point needs at least one field)."""


def _f(*keys: str) -> tuple[Field, ...]:
    return tuple(Field(k, k) for k in keys)


_STATE_LEVEL = "CASE state WHEN 'calm' THEN 0 WHEN 'elevated' THEN 1 WHEN 'high' THEN 2 END"
_OUTCOME = (
    "CASE WHEN helped IS NULL AND feedback_helped IS NULL THEN 'not measured'"
    " WHEN COALESCE(feedback_helped, helped) = 1 THEN 'helped' ELSE 'no clear change' END"
)

MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(
        "beats",
        "beat",
        "t",
        (Tag("user", "user"), Tag("device", "device")),
        (Field("rr_ms", "rr_ms"), Field("artifact", "artifact", FieldType.INT)),
    ),
    Measurement(
        "windows",
        "hrv",
        "t",
        (Tag("user", "user"), Tag("device", "device"), Tag("window", "channel")),
        (
            Field("valid", "valid", FieldType.INT),
            Field("window_s", "window_s"),
            Field("n_beats", "CAST(n_beats AS INTEGER)", FieldType.INT),
            *_f(*(c for c in WINDOW_FEATURES if c != "n_beats")),  # the archive's features, as they are
            Field("ln_rmssd", "calmstrap_ln(rmssd_ms)"),
        ),
    ),
    Measurement(
        "arousal",
        "arousal",
        "t",
        (Tag("user", "user"),),
        (
            Field("score", "score"),
            Field("a", "a"),
            Field("z_hr", "z_hr"),
            Field("z_ln_rmssd", "z_ln_rmssd"),
            Field("state", "state", FieldType.STR),
            Field("state_level", _STATE_LEVEL, FieldType.INT),
            Field("warming_up", "warming_up", FieldType.INT),
            Field("gated", "gated", FieldType.INT),
            Field("hr_bpm", "hr_bpm"),
            Field("rmssd_ms", "rmssd_ms"),
        ),
    ),
    Measurement(
        "episodes",
        "episode",
        "onset_t",
        (Tag("user", "user"),),
        (
            Field("amplitude", "amplitude"),
            Field("id", "id", FieldType.STR),
            *_f("peak_t", "end_t", "peak_score", "peak_a", "amplitude_a", "duration_s", "recovery_s"),
            *_f("t50_s", "area_a_s"),
            Field("n_prompts", "json_array_length(prompt_ids)", FieldType.INT),
            Field("exertion", "exertion", FieldType.INT),
        ),
    ),
    Measurement(
        "prompts",
        "prompt",
        "t",
        (Tag("user", "user"), Tag("kind", "kind")),
        (
            Field("duration_s", "duration_s"),
            Field("id", "id", FieldType.STR),
            Field("template_id", "template_id", FieldType.STR),
            Field("title", "title", FieldType.STR),
            Field("reason_episode_id", "reason_episode_id", FieldType.STR),
            Field("reason_score", "reason_score"),
            Field("delivered_via", "delivered_via", FieldType.STR),
            Field("outcome", _OUTCOME, FieldType.STR),
            Field("outcome_t", "outcome_t"),
            Field("d_score", "d_score"),
            Field("d_ln_rmssd", "d_ln_rmssd"),
            Field("d_hr_bpm", "d_hr_bpm"),
            Field("helped", "helped", FieldType.INT),
            Field("feedback_helped", "feedback_helped", FieldType.INT),
            *_f("osc_freq_hz", "osc_amplitude_bpm", "osc_power_share"),
        ),
    ),
    Measurement(
        "baseline",
        "baseline",
        "t",
        (Tag("user", "user"), Tag("kind", "bin")),
        (
            *_f("ln_rmssd", "ln_rmssd_sd", "hr_bpm", "hr_sd"),
            Field("ln_rmssd_lo", "ln_rmssd - ln_rmssd_sd"),
            Field("ln_rmssd_hi", "ln_rmssd + ln_rmssd_sd"),
            Field("n_windows", "n_windows", FieldType.INT),
            Field("source", "source", FieldType.STR),
        ),
    ),
    Measurement(
        "device_status",
        "strap",
        "t",
        (Tag("user", "user"), Tag("device", "device")),
        (
            Field("has_battery", "battery_pct IS NOT NULL", FieldType.INT),
            Field("battery_pct", "battery_pct"),
            Field("connected", "connected", FieldType.INT),
        ),
    ),
    Measurement(
        "gaps",
        "gap",
        "start_t",
        (Tag("user", "user"), Tag("device", "device"), Tag("kind", "reason")),
        (Field("duration_s", "end_t - start_t"), Field("end_t", "end_t")),
    ),
    Measurement(
        "motion",
        "motion",
        "t",
        (Tag("user", "user"), Tag("device", "device")),
        (Field("intensity", "intensity"),),
    ),
    Measurement(
        "weekly_progress",
        "weekly",
        "week_start_t",
        (Tag("user", "user"),),
        (
            Field("week", "week", FieldType.STR),
            Field("hours_worn", "hours_worn"),
            Field("episodes", "episodes", FieldType.INT),
            *_f("episodes_per_hour", "median_amplitude", "median_t50_s", "median_recovery_s"),
            *_f("resting_ln_rmssd", "resting_ln_rmssd_lo", "resting_ln_rmssd_hi", "resting_hr_bpm"),
            Field("prompts_sent", "prompts_sent", FieldType.INT),
            Field("prompts_helped", "prompts_helped", FieldType.INT),
            Field("helped_share", "helped_share"),
        ),
    ),
)

for _m in MEASUREMENTS:
    if not {t.key for t in _m.tags} <= ALLOWED_TAGS:
        raise AssertionError(f"{_m.name}: tags must be among {sorted(ALLOWED_TAGS)}")


def measurement_for(table: str) -> Measurement:
    for m in MEASUREMENTS:
        if m.table == table:
            return m
    raise KeyError(table)


# -- line protocol ------------------------------------------------------------------------------------------
# A backslash is literal in keys and tag values unless it precedes a special character; line protocol cannot
# end a tag value with one, so a trailing backslash becomes "_". Newlines are never allowed.
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\ "})
_MEAS_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\ "})


def escape_key(s: str) -> str:
    """A tag key, tag value or field key (commas, equals signs and spaces escaped)."""
    if s.endswith("\\"):
        s = s.rstrip("\\") + "_"
    return s.translate(_KEY_ESCAPES)


def _sql_field(f: Field, not_null: bool) -> str:
    """SQL text for ``,key=value`` — NULL when the value is NULL, so the field drops out of the point.

    Formatting happens inside SQLite (C speed): a REAL becomes text with 15 significant digits, an INTEGER
    gets the ``i`` suffix, a string is quoted with backslashes, quotes and newlines escaped. A non-finite
    float (the archive never stores one) becomes NULL instead of an unparsable point.
    """
    key = "'," + escape_key(f.key).replace("'", "''") + "='"
    x = f.expr if f.expr.isidentifier() else f"({f.expr})"
    match f.type:
        case FieldType.FLOAT:
            return f"COALESCE(CASE WHEN {x} BETWEEN -1.7e308 AND 1.7e308 THEN {key} || {x} END, '')"
        case FieldType.INT:
            text = f"{key} || {x} || 'i'" if not_null else f"{key} || CAST({x} AS INTEGER) || 'i'"
        case FieldType.STR:
            esc = f"replace(replace(replace({x}, '\\', '\\\\'), '\"', '\\\"'), char(10), ' ')"
            text = f"{key} || '\"' || {esc} || '\"'"
    return text if not_null else f"COALESCE({text}, '')"


class LineEncoder:
    """Line protocol for one measurement: SQLite formats the fields and the timestamp, Python the series.

    :meth:`select_sql` yields ``(seq, tag values..., "fields timestamp")`` per row; :meth:`encode` puts the
    series (measurement and escaped tags, cached per distinct tag values) in front. ``not_null`` names the
    columns the table declares NOT NULL, which need no NULL handling (the hot path for beats).
    """

    def __init__(self, m: Measurement, not_null: frozenset[str] = frozenset()) -> None:
        self.m = m
        tags = sorted(m.tags, key=lambda t: t.key)  # InfluxDB's preferred (and cheapest) tag order
        self._tag_prefixes = [f",{escape_key(t.key)}=" for t in tags]
        self._tag_exprs = [t.expr for t in tags]
        self._head = m.name.translate(_MEAS_ESCAPES)
        self._series_cache: dict[tuple[Any, ...], str] = {}
        self._n_tags = len(tags)
        fields = " || ".join(_sql_field(f, f.expr in not_null) for f in m.fields)
        ts = f"CAST(round(({m.time_expr}) * {_TS_SCALE}) AS INTEGER)"
        # NULL when no field has a value (cannot happen with a NOT NULL first field): never an invalid line
        self._line_sql = f"NULLIF(substr({fields}, 2), '') || ' ' || {ts} || char(10)"

    def select_sql(self, where: str = "seq > ?") -> str:
        cols = ["seq", *self._tag_exprs, self._line_sql]
        return f"SELECT {', '.join(cols)} FROM {self.m.table} WHERE {where} ORDER BY seq LIMIT ?"

    def _series(self, tag_values: tuple[Any, ...]) -> str:
        s = self._series_cache.get(tag_values)
        if s is None:
            parts = [self._head]
            for prefix, v in zip(self._tag_prefixes, tag_values, strict=True):
                if v is not None and str(v) != "":
                    parts.append(prefix + escape_key(str(v)))
            s = "".join(parts) + " "
            if len(self._series_cache) < 10_000:
                self._series_cache[tag_values] = s
        return s

    def encode(self, rows: Sequence[tuple[Any, ...]]) -> list[str]:
        """One newline-terminated line per row selected by :meth:`select_sql`."""
        end = 1 + self._n_tags
        series = self._series
        try:
            return [series(row[1:end]) + row[end] for row in rows]
        except TypeError:
            bad = next(row[0] for row in rows if row[end] is None)
            raise InfluxError(f"{self.m.table} row seq {bad} has no field value") from None


def _ln(x: float | None) -> float | None:
    return math.log(x) if x is not None and x > 0 else None


_QUOTED = re.compile(r"'[^']*'")


def redact(message: str) -> str:
    """A server error without the echoed line protocol (it holds RR and HRV values): quoted parts elided."""
    return _QUOTED.sub("'…'", message.strip())[:300]


def public_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, for messages and watermark keys."""
    parts = urllib.parse.urlsplit(url.rstrip("/"))
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# -- sinks --------------------------------------------------------------------------------------------------
class Sink(Protocol):
    key: str
    """Names the destination in ``sync_watermark.sink``: another server or database drains from zero."""
    url: str

    def write(self, body: bytes) -> None:
        """Post line protocol; return on 2xx, raise InfluxUnavailable or InfluxRejected otherwise."""
        ...

    def delete_user(self, user: str) -> None:
        """Remove every point tagged with ``user`` (``calmstrap demo`` replacing its previous run)."""
        ...

    def close(self) -> None: ...


class V1Sink:
    """InfluxDB 1.x ``/write`` through the standard library (keep-alive connection, Basic auth)."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str = "",
        username: str = "",
        password: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"influx.url must be http(s)://host[:port], got {url!r}")
        self.url = public_url(url)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port
        self._timeout_s = timeout_s
        params = {"db": database, "precision": PRECISION}
        if retention_policy:
            params["rp"] = retention_policy
        self.database = database
        self.base_path = parsed.path.rstrip("/")
        self.path = self.base_path + "/write?" + urllib.parse.urlencode(params)
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if username:
            cred = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {cred}"
        self.key = f"influx-v1 {self.url} {database}/{retention_policy}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout_s)
        return self._conn

    def write(self, body: bytes) -> None:
        for attempt in (0, 1):  # one silent retry when a kept-alive connection was closed by the server
            conn = self._connection()
            try:
                conn.request("POST", self.path, body=body, headers=self.headers)
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 0:
                    continue
                raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None
            if 200 <= resp.status < 300:
                return
            message = redact(payload.decode("utf-8", errors="replace"))
            if resp.status >= 500 or resp.status == 429:
                raise InfluxUnavailable(self.url, f"HTTP {resp.status}: {message}")
            raise InfluxRejected(self.url, resp.status, message)

    def delete_user(self, user: str) -> None:
        quoted = user.replace("\\", "\\\\").replace("'", "\\'")
        params = {"db": self.database, "q": f"DROP SERIES WHERE \"user\" = '{quoted}'"}
        body = urllib.parse.urlencode(params).encode()
        headers = {**self.headers, "Content-Type": "application/x-www-form-urlencoded"}
        conn = self._connection()
        try:
            conn.request("POST", self.base_path + "/query", body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None
        if resp.status >= 500:
            raise InfluxUnavailable(self.url, f"HTTP {resp.status}: {redact(payload)}")
        if resp.status >= 300 or '"error"' in payload:
            raise InfluxRejected(self.url, resp.status, redact(payload))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class V2Sink:
    """InfluxDB 2.x / 3 Core ``/api/v2/write`` through influxdb-client's synchronous write API."""

    def __init__(self, url: str, org: str, bucket: str, token: str, *, timeout_s: float = 10.0) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.url = public_url(url)
        self.org = org
        self.bucket = bucket
        self.key = f"influx-v2 {self.url} {org}/{bucket}"
        # retries=False (the default, said here on purpose): a failed post raises; the archive is the spool
        self._client: Any = InfluxDBClient(
            url=url.rstrip("/"), token=token, org=org, timeout=int(timeout_s * 1000), retries=False
        )
        self._write_api: Any = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, body: bytes) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self._write_api.write(
                bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.MS
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            message = redact(str(exc.body or exc.reason or ""))
            if status >= 500 or status == 429 or status == 0:
                raise InfluxUnavailable(self.url, f"HTTP {status}: {message}") from None
            raise InfluxRejected(self.url, status, message) from None
        except Exception as exc:  # urllib3 connection errors, timeouts
            raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None

    def delete_user(self, user: str) -> None:
        from influxdb_client.rest import ApiException

        quoted = user.replace("\\", "\\\\").replace('"', '\\"')
        try:
            self._client.delete_api().delete(
                "1970-01-01T00:00:00Z",
                "2200-01-01T00:00:00Z",
                f'user="{quoted}"',
                bucket=self.bucket,
                org=self.org,
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            message = redact(str(exc.body or exc.reason or ""))
            if status >= 500 or status == 0:
                raise InfluxUnavailable(self.url, f"HTTP {status}: {message}") from None
            raise InfluxRejected(self.url, status, message) from None
        except Exception as exc:
            raise InfluxUnavailable(self.url, str(exc) or type(exc).__name__) from None

    def close(self) -> None:
        self._write_api.close()
        self._client.close()


def sink_from_config(cfg: Any) -> Sink:
    """The sink the ``[influx]`` settings name (``cfg`` is a ``calmstrap.config.InfluxConfig``)."""
    if cfg.api == "v1":
        return V1Sink(
            cfg.url,
            cfg.database,
            retention_policy=cfg.retention_policy,
            username=cfg.username,
            password=cfg.password,
        )
    return V2Sink(cfg.url, cfg.org, cfg.bucket, cfg.token)


# -- the writer ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Batch:
    measurement: Measurement
    rows: int
    first_seq: int
    last_seq: int
    body: bytes


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``calmstrap sync --from/--to``: epoch seconds, either end open (None)."""

    from_t: float | None = None
    to_t: float | None = None


class InfluxWriter:
    """Drains an :class:`Archive` into a :class:`Sink`, one watermark per table.

    Archive reads and watermark updates happen on the caller's thread (the asyncio loop thread in the
    service); only :meth:`Sink.write` may run in a worker thread.
    """

    def __init__(
        self,
        archive: Archive,
        sink: Sink,
        *,
        batch_size: int = 5000,
        measurements: Sequence[Measurement] = MEASUREMENTS,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.archive = archive
        self.sink = sink
        self.batch_size = batch_size
        self.measurements = tuple(measurements)
        not_null = {
            m.table: frozenset(r[1] for r in archive.conn.execute(f"PRAGMA table_info({m.table})") if r[3])
            for m in self.measurements
        }
        self._encoders = {m.table: LineEncoder(m, not_null[m.table]) for m in self.measurements}
        self._sql = {m.table: self._encoders[m.table].select_sql() for m in self.measurements}
        self.rows_written = 0
        # not every SQLite build has the math functions: the one the field map needs, NULL outside its domain
        archive.conn.create_function("calmstrap_ln", 1, _ln, deterministic=True)

    # watermarks
    def watermark(self, table: str) -> int:
        row = self.archive.conn.execute(
            "SELECT seq FROM sync_watermark WHERE sink = ? AND tbl = ?", (self.sink.key, table)
        ).fetchone()
        return int(row[0]) if row else 0

    def _advance(self, table: str, seq: int) -> None:
        # Runs inside the pipeline's open transaction when there is one (committed with it); a crash before
        # that commit only means a replay, which overwrites.
        self.archive.conn.execute(
            "INSERT INTO sync_watermark (sink, tbl, seq) VALUES (?, ?, ?)"
            " ON CONFLICT (sink, tbl) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > seq",
            (self.sink.key, table, seq),
        )

    def reset(self) -> None:
        """Forget every watermark of this sink (the next drain sends the whole archive)."""
        self.archive.conn.execute("DELETE FROM sync_watermark WHERE sink = ?", (self.sink.key,))

    def pending(self) -> dict[str, int]:
        """Rows not yet acknowledged, per table."""
        return {
            m.table: int(
                self.archive.conn.execute(
                    f"SELECT COUNT(*) FROM {m.table} WHERE seq > ?", (self.watermark(m.table),)
                ).fetchone()[0]
            )
            for m in self.measurements
        }

    # reading
    def next_batch(
        self, table: str, after_seq: int | None = None, span: TimeRange | None = None
    ) -> Batch | None:
        """Up to ``batch_size`` rows of ``table`` above ``after_seq`` (default: the watermark)."""
        enc = self._encoders[table]
        after = self.watermark(table) if after_seq is None else after_seq
        if span is None or (span.from_t is None and span.to_t is None):
            rows = self.archive.conn.execute(self._sql[table], (after, self.batch_size)).fetchall()
        else:
            where = ["seq > ?"]
            params: list[Any] = [after]
            if span.from_t is not None:
                where.append(f"({enc.m.time_expr}) >= ?")
                params.append(span.from_t)
            if span.to_t is not None:
                where.append(f"({enc.m.time_expr}) < ?")
                params.append(span.to_t)
            sql = enc.select_sql(" AND ".join(where))
            rows = self.archive.conn.execute(sql, (*params, self.batch_size)).fetchall()
        if not rows:
            return None
        body = "".join(enc.encode(rows)).encode("utf-8")
        return Batch(enc.m, len(rows), int(rows[0][0]), int(rows[-1][0]), body)

    def count_span(self, table: str, span: TimeRange) -> int:
        m = self._encoders[table].m
        where, params = ["1"], []
        if span.from_t is not None:
            where.append(f"({m.time_expr}) >= ?")
            params.append(span.from_t)
        if span.to_t is not None:
            where.append(f"({m.time_expr}) < ?")
            params.append(span.to_t)
        sql = f"SELECT COUNT(*) FROM {table} WHERE {' AND '.join(where)}"
        return int(self.archive.conn.execute(sql, params).fetchone()[0])

    def acknowledged(self, batch: Batch) -> None:
        """The server took ``batch``: move its table's watermark."""
        self._advance(batch.measurement.table, batch.last_seq)
        self.rows_written += batch.rows

    # synchronous draining (calmstrap sync, benchmarks)
    def drain(self, on_batch: Callable[[Batch], None] | None = None) -> int:
        """Everything above the watermarks, table by table in ``seq`` order; returns rows written."""
        return sum(self._pump(m.table, None, None, on_batch) for m in self.measurements)

    def push_span(self, span: TimeRange, on_batch: Callable[[Batch], None] | None = None) -> int:
        """Re-send every row whose time is in ``span`` (watermarks untouched: a replay overwrites)."""
        return sum(self._pump(m.table, 0, span, on_batch) for m in self.measurements)

    def _pump(
        self,
        table: str,
        after_seq: int | None,
        span: TimeRange | None,
        on_batch: Callable[[Batch], None] | None,
    ) -> int:
        """Post one table's batches in order, reading and encoding batch k+1 while batch k is in flight.

        Posts run one at a time in a single worker thread (the archive is only touched here); batch k+1 is
        posted only after batch k was acknowledged and its watermark moved (``after_seq`` None), so the
        watermark never passes a row the server has not taken.
        """
        advance = after_seq is None
        after = self.watermark(table) if advance else int(after_seq or 0)
        total = 0
        in_flight: tuple[Batch, Future[None]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-post") as pool:
            while True:
                batch = self.next_batch(table, after, span)
                if in_flight is not None:
                    done, fut = in_flight
                    in_flight = None
                    fut.result()  # raises InfluxError: nothing more is posted or acknowledged
                    if advance:
                        self.acknowledged(done)
                    total += done.rows
                    if on_batch is not None:
                        on_batch(done)
                if batch is None:
                    return total
                in_flight = (batch, pool.submit(self.sink.write, batch.body))
                after = batch.last_seq

    # asynchronous draining (calmstrap run / demo)
    async def drain_round_async(self) -> int:
        """One batch per table above its watermark; the HTTP post runs in a worker thread, archive access on the loop."""
        written = 0
        for m in self.measurements:
            batch = self.next_batch(m.table)
            if batch is None:
                continue
            await asyncio.to_thread(self.sink.write, batch.body)
            self.acknowledged(batch)
            written += batch.rows
        return written

    async def drain_async(self) -> int:
        """Rounds until nothing is above the watermarks (raises on failure)."""
        total = 0
        while (n := await self.drain_round_async()) > 0:
            total += n
        return total

    async def run(self, interval_s: float, stop: asyncio.Event, *, max_backoff_s: float = 60.0) -> None:
        """Drain every ``interval_s`` until ``stop`` is set; an outage backs off with a growing random delay.

        Returns only between rounds (never with a post still running in its worker thread).
        """
        failures = 0
        while not stop.is_set():
            try:
                await self.drain_async()
            except InfluxError as exc:
                failures += 1
                if failures == 1:
                    level = logging.WARNING if isinstance(exc, InfluxUnavailable) else logging.ERROR
                    log.log(level, "%s; the archive keeps the backlog, retrying", exc)
            except Exception:  # never let the trend store stop the service
                failures += 1
                if failures == 1:
                    log.exception("InfluxDB writer failed; retrying")
            else:
                if failures:
                    log.info("InfluxDB at %s answers again; backlog written", self.sink.url)
                failures = 0
            delay = interval_s
            if failures:
                delay = min(max_backoff_s, max(interval_s, 0.5) * (2 ** min(failures - 1, 6)))
                delay *= random.uniform(0.5, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def final_drain(self, timeout_s: float, *, retry_s: float = 0.5) -> int:
        """Drain until empty, retrying through an outage for at most ``timeout_s``; rows still pending."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await self.drain_async()
                return 0
            except InfluxError as exc:
                if time.monotonic() + retry_s > deadline:
                    log.warning("%s", exc)
                    return sum(self.pending().values())
            await asyncio.sleep(retry_s)
