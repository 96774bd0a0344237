"""RR files: read them (for ``calmstrap import``) and replay them as if live (``calmstrap run --source replay:``).

Formats read (:class:`RRFormat`; ``auto`` picks one from the content):

* ``kubios`` -- Kubios HRV's RR text: any number of header lines starting with ``#`` (or blank), then one
  RR interval per line. Values are milliseconds; a file whose values are all below 10 is in seconds (Kubios
  accepts both). The same layout is what calmstrap's own Kubios export writes and what apps that export
  "one RR per line" produce (Elite HRV's RR export, for example).
* ``csv`` -- a delimited table (``,``, ``;`` or tab) with or without a header:
  one column: RR in ms; two columns: a timestamp (epoch seconds, or ISO 8601 date-time) and RR in ms.
  With a header the RR column is the one whose name contains ``rr`` (``rr_ms``, ``RR-interval [ms]``,
  ``RR``) and the time column the one whose name contains ``time`` or ``date``; other columns are ignored.
  This covers app exports that write one row per beat with a time and an RR column (for example Polar
  Sensor Logger's RR file, HRV Logger's RR export).

Every value must be a number of milliseconds in (0, 65535 * 1000/1024) -- what a 0x2A37 RR field can hold.
A line that cannot be read raises :class:`~sensors.errors.ReplayFormatError` with its 1-based line number;
nothing is returned for a file with a bad line.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sensors.errors import ReplayFormatError
from sensors.heart_rate import RR_TICKS_PER_S, encode_measurement, ms_to_ticks
from sensors.source import SourceItem

MAX_RR_MS = 65535 * 1000.0 / RR_TICKS_PER_S


class RRFormat(StrEnum):
    AUTO = "auto"
    KUBIOS = "kubios"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class RRRecording:
    """RR intervals read from a file; ``t_s`` holds per-beat epoch times when the file had them."""

    rr_ms: tuple[float, ...]
    t_s: tuple[float, ...] | None
    format: RRFormat
    path: str

    @property
    def duration_s(self) -> float:
        return sum(self.rr_ms) / 1000.0


def _number(text: str) -> float:
    v = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    if not math.isfinite(v):
        raise ValueError(text)
    return v


def _check_rr(path: str, line_no: int, v: float) -> float:
    if not 0.0 < v < MAX_RR_MS:
        raise ReplayFormatError(path, line_no, f"RR {v:g} ms is outside (0, {MAX_RR_MS:.0f}) ms")
    return v


def _timestamp(text: str) -> float:
    s = text.strip()
    try:
        return _number(s)
    except ValueError:
        pass
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.astimezone()  # a local time, as apps write it
    return dt.astimezone(UTC).timestamp()


def _lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReplayFormatError(str(path), 0, f"cannot read the file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()


def _detect(lines: Sequence[str]) -> RRFormat:
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        return (
            RRFormat.CSV if re.search(r"[,;\t]", s) and not re.fullmatch(r"\d+,\d+", s) else RRFormat.KUBIOS
        )
    return RRFormat.KUBIOS


def _read_kubios(path: str, lines: Sequence[str]) -> RRRecording:
    values: list[tuple[int, float]] = []
    for i, line in enumerate(lines, start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            if values and s.startswith("#"):
                raise ReplayFormatError(path, i, "a header line after the RR values")
            continue
        try:
            values.append((i, _number(s)))
        except ValueError:
            raise ReplayFormatError(path, i, f"not a number: {s[:40]!r}") from None
    if not values:
        raise ReplayFormatError(path, len(lines), "no RR values")
    scale = 1000.0 if all(v < 10.0 for _, v in values) else 1.0
    rr = tuple(_check_rr(path, i, v * scale) for i, v in values)
    return RRRecording(rr_ms=rr, t_s=None, format=RRFormat.KUBIOS, path=path)


def _read_csv(path: str, lines: Sequence[str]) -> RRRecording:
    body = [(i, line) for i, line in enumerate(lines, start=1) if line.strip() and not line.startswith("#")]
    if not body:
        raise ReplayFormatError(path, len(lines), "no rows")
    first = body[0][1]
    delim = max((",", ";", "\t"), key=first.count)
    rows = [(i, _trim(next(csv.reader(io.StringIO(line), delimiter=delim)))) for i, line in body]
    head_i, head = rows[0]
    rr_col, t_col = -1, -1
    has_header = any(re.search(r"[a-zA-Z]", c) and not _is_iso(c) for c in head)
    if has_header:
        names = [c.strip().lower() for c in head]
        rr_col = next((k for k, n in enumerate(names) if "rr" in n), -1)
        t_col = next((k for k, n in enumerate(names) if "time" in n or "date" in n), -1)
        if rr_col < 0:
            raise ReplayFormatError(path, head_i, "no RR column in the header (a name containing 'rr')")
        rows = rows[1:]
    else:
        if len(head) == 1:
            rr_col = 0
        elif len(head) == 2:
            t_col, rr_col = 0, 1
        else:
            raise ReplayFormatError(path, head_i, f"{len(head)} columns without a header; expected 1 or 2")
    rr: list[float] = []
    ts: list[float] = []
    for i, row in rows:
        if len(row) <= max(rr_col, t_col):
            raise ReplayFormatError(
                path, i, f"{len(row)} columns, expected at least {max(rr_col, t_col) + 1}"
            )
        try:
            v = _number(row[rr_col].strip())
        except ValueError:
            raise ReplayFormatError(path, i, f"RR is not a number: {row[rr_col][:40]!r}") from None
        rr.append(_check_rr(path, i, v))
        if t_col >= 0:
            try:
                ts.append(_timestamp(row[t_col]))
            except ValueError:
                raise ReplayFormatError(path, i, f"not a timestamp: {row[t_col][:40]!r}") from None
            if len(ts) > 1 and ts[-1] < ts[-2]:
                raise ReplayFormatError(path, i, "timestamp goes backwards")
    if not rr:
        raise ReplayFormatError(path, len(lines), "no RR values")
    return RRRecording(rr_ms=tuple(rr), t_s=tuple(ts) if t_col >= 0 else None, format=RRFormat.CSV, path=path)


def _trim(row: list[str]) -> list[str]:
    """Drop empty trailing cells (a trailing delimiter)."""
    while row and not row[-1].strip():
        row.pop()
    return row


def _is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def read_rr_file(path: str | Path, fmt: RRFormat = RRFormat.AUTO) -> RRRecording:
    """Read an RR file; raises :class:`ReplayFormatError` naming the first bad line."""
    p = Path(path)
    lines = _lines(p)
    chosen = _detect(lines) if fmt is RRFormat.AUTO else fmt
    if chosen is RRFormat.CSV:
        return _read_csv(str(p), lines)
    return _read_kubios(str(p), lines)


def beat_times(rec: RRRecording, start_t: float) -> list[float]:
    """Epoch time of each beat: the file's own times where it had them, else cumulative RR from ``start_t``."""
    if rec.t_s is not None:
        return list(rec.t_s)
    out: list[float] = []
    t = start_t
    for r in rec.rr_ms:
        t += r / 1000.0
        out.append(t)
    return out


@dataclass(slots=True)
class ReplaySource:
    """Streams an RR file as 0x2A37 notifications, about one per second of beats, as if live.

    ``speed`` is recorded seconds per real second. Arrival times are the recording's beat times moved to
    start at ``start_t`` (default: now); with speed > 1 they run ahead of the wall clock, as the simulated
    strap's do.
    """

    recording: RRRecording
    speed: float = 1.0
    start_t: float | None = None
    notify_every_s: float = 1.0
    hr_uint16: bool = False

    async def stream(self) -> AsyncIterator[SourceItem]:
        rec = self.recording
        if not rec.rr_ms:
            return
        start = self.start_t if self.start_t is not None else time.time()
        times = beat_times(rec, start)
        if rec.t_s is not None:  # keep the file's beat spacing, move it to start at ``start``
            offset = start - (rec.t_s[0] - rec.rr_ms[0] / 1000.0)
            times = [x + offset for x in times]
        wall0 = time.monotonic()
        pending: list[int] = []
        next_send = start + self.notify_every_s
        for t, rr in zip(times, rec.rr_ms, strict=True):
            if t > next_send:
                if pending:
                    yield await self._emit(pending, next_send, start, wall0)
                    pending = []
                while next_send < t:
                    next_send += self.notify_every_s
            pending.append(ms_to_ticks(rr))
            if len(pending) == 9:  # a notification holds at most 9 RRs with a uint8 heart rate
                yield await self._emit(pending, t, start, wall0)
                pending = []
        if pending:
            yield await self._emit(pending, times[-1], start, wall0)

    async def _emit(self, ticks: list[int], arrival: float, t0: float, wall0: float) -> tuple[float, bytes]:
        delay = wall0 + (arrival - t0) / self.speed - time.monotonic()
        await asyncio.sleep(max(0.0, delay))
        mean_ms = sum(ticks) * 1000.0 / RR_TICKS_PER_S / len(ticks)
        hr = max(1, min(255, round(60000.0 / mean_ms)))
        return arrival, encode_measurement(hr, ticks, contact=None)
