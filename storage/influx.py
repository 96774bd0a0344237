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
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from storage.archive import Archive
from storage.errors import InfluxError, InfluxRejected, InfluxUnavailable
from storage.imports import unfinished_import_floor
from storage.influx_lines import PRECISION, LineEncoder, _ln, escape_key
from storage.influx_map import ALLOWED_TAGS, MEASUREMENTS, Field, FieldType, Measurement, Tag, measurement_for
from storage.influx_sinks import Sink, V1Sink, V2Sink, public_url, redact, sink_from_config

__all__ = [
    "ALLOWED_TAGS",
    "MEASUREMENTS",
    "PRECISION",
    "Batch",
    "Field",
    "FieldType",
    "InfluxError",
    "InfluxRejected",
    "InfluxUnavailable",
    "InfluxWriter",
    "LineEncoder",
    "Measurement",
    "RejectedPoint",
    "Sink",
    "Tag",
    "TimeRange",
    "V1Sink",
    "V2Sink",
    "escape_key",
    "measurement_for",
    "public_url",
    "redact",
    "sink_from_config",
]

log = logging.getLogger("calmstrap.influx")


# -- the writer ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Batch:
    measurement: Measurement
    rows: int
    first_seq: int
    last_seq: int
    body: bytes
    seqs: tuple[int, ...] = ()
    lines: tuple[str, ...] = ()
    """Each row's ``seq`` and line, to find the rows a server refuses (:meth:`InfluxWriter.post`)."""


@dataclass(frozen=True, slots=True)
class RejectedPoint:
    """A point the server refused for good: its row, its line and the server's reason."""

    table: str
    seq: int
    line: str
    status: int
    reason: str


POINT_REJECTIONS: frozenset[int] = frozenset({400, 413, 422})
"""HTTP statuses that refuse the data itself (a field type conflict, a line that does not parse, a body too
large): the batch is split in halves until the refused points are found and quarantined. Any other 4xx but
429 (bad credentials, a missing database) refuses the request whatever it holds: it is raised, never
retried as an outage."""
NO_FLOOR = 1 << 62


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
        self._sql = {
            m.table: self._encoders[m.table].select_sql("seq > ? AND seq < ?") for m in self.measurements
        }
        self.rows_written = 0
        self.rows_quarantined = 0
        # not every SQLite build has the math functions: the one the field map needs, NULL outside its domain
        archive.conn.create_function("calmstrap_ln", 1, _ln, deterministic=True)

    # watermarks
    def watermark(self, table: str) -> int:
        row = self.archive.conn.execute(
            "SELECT seq FROM sync_watermark WHERE sink = ? AND tbl = ?", (self.sink.key, table)
        ).fetchone()
        return int(row[0]) if row else 0

    def _advance(self, table: str, seq: int) -> None:
        self.archive.set_watermark(self.sink.key, table, seq)

    def reset(self) -> None:
        """Forget every watermark of this sink (the next drain sends the whole archive)."""
        self.archive.reset_watermarks(self.sink.key)

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
        floor = unfinished_import_floor(self.archive) if span is None else None
        if span is None or (span.from_t is None and span.to_t is None):
            limit = NO_FLOOR if floor is None else floor
            rows = self.archive.conn.execute(self._sql[table], (after, limit, self.batch_size)).fetchall()
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
        lines = enc.encode(rows)
        body = "".join(lines).encode("utf-8")
        seqs = tuple(int(r[0]) for r in rows)
        return Batch(enc.m, len(rows), seqs[0], seqs[-1], body, seqs, tuple(lines))

    # posting, with refused points isolated
    def post(self, batch: Batch) -> list[RejectedPoint]:
        """Post ``batch``; returns the points the server refused for good (found by halving the batch).

        Runs in a worker thread (touches no archive). Raises InfluxUnavailable (retry later) and
        InfluxRejected for statuses outside :data:`POINT_REJECTIONS` (nothing was taken).
        """
        try:
            self.sink.write(batch.body)
            return []
        except InfluxRejected as exc:
            if exc.status not in POINT_REJECTIONS or not batch.lines:
                raise
            return self._bisect(batch.measurement.table, list(zip(batch.seqs, batch.lines, strict=True)), exc)

    def _bisect(self, table: str, rows: list[tuple[int, str]], exc: InfluxRejected) -> list[RejectedPoint]:
        if len(rows) == 1:
            seq, line = rows[0]
            return [RejectedPoint(table, seq, line, exc.status, exc.message)]
        mid = len(rows) // 2
        out: list[RejectedPoint] = []
        for part in (rows[:mid], rows[mid:]):
            try:
                self.sink.write("".join(line for _, line in part).encode("utf-8"))
            except InfluxRejected as sub:
                if sub.status not in POINT_REJECTIONS:
                    raise
                out.extend(self._bisect(table, part, sub))
        return out

    def quarantine(self, rejected: Sequence[RejectedPoint]) -> None:
        """Keep refused points in the archive (``influx_quarantine``) with the server's reason; warn once."""
        if not rejected:
            return
        now = time.time()
        self.archive.execute_write(
            "INSERT INTO influx_quarantine (sink, tbl, row_seq, quarantined_t, status, reason, line)"
            " VALUES (?,?,?,?,?,?,?)",
            [(self.sink.key, r.table, r.seq, now, r.status, r.reason, r.line) for r in rejected],
        )
        self.rows_quarantined += len(rejected)
        first = rejected[0]
        log.warning(
            "InfluxDB at %s refused %d %s row(s) for good (HTTP %d: %s); they are kept in the archive's "
            "influx_quarantine table and everything else goes on",
            self.sink.url,
            len(rejected),
            first.table,
            first.status,
            first.reason,
        )

    def retry_quarantined(self) -> tuple[int, int]:
        """Send this sink's quarantined lines again, once the cause was mended on the server's side.

        A line the server now takes leaves the quarantine; one it refuses again stays, with the new status,
        reason and time. Returns ``(taken, still_refused)``. Raises as :meth:`post` does (an outage, or a
        refusal of the whole request): then nothing in the quarantine changes.
        """
        rows = self.archive.conn.execute(
            "SELECT id, line FROM influx_quarantine WHERE sink = ? ORDER BY id", (self.sink.key,)
        ).fetchall()
        refused: list[RejectedPoint] = []
        for i in range(0, len(rows), self.batch_size):
            part = [(int(r[0]), str(r[1])) for r in rows[i : i + self.batch_size]]
            try:
                self.sink.write("".join(line for _, line in part).encode("utf-8"))
            except InfluxRejected as exc:
                if exc.status not in POINT_REJECTIONS:
                    raise
                refused.extend(self._bisect("", part, exc))  # RejectedPoint.seq is the quarantine row's id
        again = {p.seq: p for p in refused}
        now = time.time()
        self.archive.execute_write(
            "DELETE FROM influx_quarantine WHERE id = ?", [(i,) for i, _ in rows if int(i) not in again]
        )
        self.archive.execute_write(
            "UPDATE influx_quarantine SET status = ?, reason = ?, quarantined_t = ? WHERE id = ?",
            [(p.status, p.reason, now, p.seq) for p in again.values()],
        )
        return len(rows) - len(again), len(again)

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
        in_flight: tuple[Batch, Future[list[RejectedPoint]]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-post") as pool:
            while True:
                batch = self.next_batch(table, after, span)
                if in_flight is not None:
                    done, fut = in_flight
                    in_flight = None
                    self.quarantine(
                        fut.result()
                    )  # raises InfluxError: nothing more is posted or acknowledged
                    if advance:
                        self.acknowledged(done)
                    total += done.rows
                    if on_batch is not None:
                        on_batch(done)
                if batch is None:
                    return total
                in_flight = (batch, pool.submit(self.post, batch))
                after = batch.last_seq

    # asynchronous draining (calmstrap run / demo)
    async def drain_round_async(self) -> int:
        """One batch per table above its watermark; the HTTP post runs in a worker thread, archive access on the loop."""
        written = 0
        for m in self.measurements:
            batch = self.next_batch(m.table)
            if batch is None:
                continue
            self.quarantine(await asyncio.to_thread(self.post, batch))
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
            except InfluxRejected as exc:  # not an outage: retried only slowly, in case the setup is fixed
                failures = max(failures + 1, 7)
                if failures == 7:
                    log.error("%s; the archive keeps the backlog, trying again every minute", exc)
            except InfluxError as exc:
                failures += 1
                if failures == 1:
                    log.warning("%s; the archive keeps the backlog, retrying", exc)
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
        """Drain until empty, retrying through an outage for at most ``timeout_s``; rows still pending.

        A refusal of the request itself (:class:`InfluxRejected`) is not an outage: no retry.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await self.drain_async()
                return sum(self.pending().values())  # rows of an unfinished import wait for it
            except InfluxRejected as exc:
                log.error("%s", exc)
                return sum(self.pending().values())
            except InfluxError as exc:
                if time.monotonic() + retry_s > deadline:
                    log.warning("%s", exc)
                    return sum(self.pending().values())
            await asyncio.sleep(retry_s)
