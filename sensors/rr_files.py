"""RR files, read in two streaming passes: :func:`scan_rr_file` checks every line, :func:`iter_rr_file` yields.

Formats (:class:`RRFormat`; ``auto`` picks one from the first line that is not a ``#`` comment):

* ``kubios`` -- Kubios HRV's RR text: any number of header lines starting with ``#`` (or blank), then one
  RR interval per line. Values are milliseconds; a file whose values are all below 10 is in seconds (Kubios
  accepts both). The same layout is what calmstrap's own Kubios export writes (with a ``# start:`` line: the
  time of the R peak that opens the first interval, which :attr:`RRScan.header_start_t` returns) and what
  apps that export "one RR per line" produce (Elite HRV's RR export, for example).
* ``csv`` -- a delimited table (``,``, ``;`` or tab) with or without a header: one column: RR in ms; two
  columns: a timestamp and RR in ms. With a header (a first line that is not numbers: a one-column file
  whose first line is ``rr`` is CSV, not Kubios) the RR column is the one whose name contains ``rr``
  (``rr_ms``, ``RR-interval [ms]``, ``RR``) and the time column the one whose name contains ``time`` or
  ``date``; other columns are ignored. This covers app exports that write one row per beat with a time and
  an RR column (for example Polar Sensor Logger's RR file, HRV Logger's RR export).

Timestamps are ISO 8601 date-times (local time unless they carry an offset) or epoch numbers; the unit of
epoch numbers (seconds, milliseconds, microseconds or nanoseconds) is the one that puts the first timestamp
between :data:`MIN_EPOCH_S` (2000-01-01) and a day after ``now``, and every other timestamp must then be in
that range too. Times that fit no unit (elapsed seconds since the start, for example) are refused with a hint.
A row with the same time as the row before is a duplicate: it is skipped and counted
(:attr:`RRScan.duplicates`); a time earlier than the one before is an error.

Every RR must be a number of milliseconds in (0, 65535 * 1000/1024) -- what a 0x2A37 RR field can hold.
A line that cannot be read raises :class:`~sensors.errors.ReplayFormatError` with its 1-based line number.
Neither pass holds more than a line in memory: a file of any size is checked in constant memory.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from sensors.errors import ReplayFormatError
from sensors.heart_rate import RR_TICKS_PER_S

MAX_RR_MS = 65535 * 1000.0 / RR_TICKS_PER_S
MIN_EPOCH_S = 946_684_800.0
"""2000-01-01T00:00:00Z: the earliest time calmstrap accepts for a recording (no strap streamed RR before)."""
FUTURE_SLACK_S = 86_400.0
"""How far after ``now`` a recording may reach (clock skew between devices), in seconds."""
EPOCH_UNITS: tuple[tuple[str, float], ...] = (
    ("seconds", 1.0),
    ("milliseconds", 1e-3),
    ("microseconds", 1e-6),
    ("nanoseconds", 1e-9),
)


class RRFormat(StrEnum):
    AUTO = "auto"
    KUBIOS = "kubios"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class RRScan:
    """What the checking pass learned about a file: enough to read it again without deciding anything."""

    path: str
    format: RRFormat
    encoding: str
    n_beats: int
    """RR values that will be yielded (duplicates not counted)."""
    duplicates: int
    """Rows skipped because their time equals the row before's."""
    duration_s: float
    """Sum of the yielded RR values, in seconds."""
    rr_scale: float
    """1000.0 when a Kubios file is in seconds, else 1.0."""
    delimiter: str
    has_header: bool
    rr_col: int
    t_col: int
    """-1: no time column."""
    t_unit: str
    """``seconds``/``milliseconds``/... for epoch numbers, ``iso`` for ISO 8601, ``""`` without times."""
    first_t: float | None
    """Time of the first row (end of its beat), epoch s; None without times."""
    last_t: float | None
    first_rr_ms: float
    header_start_t: float | None
    """A Kubios ``# start:`` header's time (calmstrap's own export), epoch s."""
    size_bytes: int
    mtime_ns: int

    @property
    def has_times(self) -> bool:
        return self.t_col >= 0


def _number(text: str) -> float:
    v = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    if not math.isfinite(v):
        raise ValueError(text)
    return v


def _check_rr(path: str, line_no: int, v: float) -> float:
    if not 0.0 < v < MAX_RR_MS:
        raise ReplayFormatError(path, line_no, f"RR {v:g} ms is outside (0, {MAX_RR_MS:.0f}) ms")
    return v


def _iso(text: str) -> float:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.astimezone()  # a local time, as apps write it
    return dt.astimezone(UTC).timestamp()


def _is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _open(path: Path, encoding: str) -> TextIO:
    try:
        return path.open("r", encoding=encoding, errors="strict", newline=None)
    except OSError as exc:
        raise ReplayFormatError(str(path), 0, f"cannot read the file ({exc.strerror})") from None


def _encoding(path: Path) -> str:
    """utf-8 (with or without a BOM) when every byte decodes, else latin-1 (which always does)."""
    dec = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                dec.decode(block)
            dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    except OSError as exc:
        raise ReplayFormatError(str(path), 0, f"cannot read the file ({exc.strerror})") from None
    return "utf-8-sig"


def _detect(first: str) -> RRFormat:
    s = first.strip()
    if re.search(r"[,;\t]", s) and not re.fullmatch(r"\d+,\d+", s):
        return RRFormat.CSV
    # one column: a header word (``rr``, ``RR-interval [ms]``) means CSV; a number means Kubios RR text
    try:
        _number(s)
    except ValueError:
        return RRFormat.CSV if re.search(r"[a-zA-Z]", s) and not _is_iso(s) else RRFormat.KUBIOS
    return RRFormat.KUBIOS


def _header_start(line: str) -> float | None:
    m = re.match(r"#\s*start:\s*(\S+)\s*$", line.strip())
    if m is None:
        return None
    try:
        return _iso(m.group(1))
    except ValueError:
        return None


def _split(line: str, delim: str) -> list[str]:
    row = next(csv.reader([line], delimiter=delim), [])
    while row and not row[-1].strip():  # a trailing delimiter
        row.pop()
    return row


class _Times:
    """Timestamps of one file: one unit for all, every one in range, never backwards."""

    def __init__(self, path: str, now_t: float) -> None:
        self.path = path
        self.lo = MIN_EPOCH_S
        self.hi = now_t + FUTURE_SLACK_S
        self.unit = ""
        self.scale = 1.0

    def _range_text(self) -> str:
        lo = datetime.fromtimestamp(self.lo, UTC).date().isoformat()
        return f"between {lo} and a day from now"

    def parse(self, line_no: int, text: str) -> float:
        s = text.strip()
        try:
            v = _number(s)
        except ValueError:
            try:
                t = _iso(s)
            except (ValueError, OverflowError, OSError):
                raise ReplayFormatError(self.path, line_no, f"not a timestamp: {s[:40]!r}") from None
            if not self.unit:
                self.unit = "iso"
            elif self.unit != "iso":
                raise ReplayFormatError(
                    self.path, line_no, f"an ISO time among epoch {self.unit}: {s[:40]!r}"
                ) from None
            return self._in_range(line_no, t, s)
        if not self.unit:
            for unit, scale in EPOCH_UNITS:
                if self.lo <= v * scale <= self.hi:
                    self.unit, self.scale = unit, scale
                    break
            else:
                raise ReplayFormatError(
                    self.path,
                    line_no,
                    f"timestamp {s[:40]} is not an epoch time in seconds, milliseconds, microseconds or "
                    f"nanoseconds {self._range_text()} (elapsed times? drop the time column and give "
                    "--start)",
                )
        elif self.unit == "iso":
            raise ReplayFormatError(self.path, line_no, f"an epoch number among ISO times: {s[:40]!r}")
        return self._in_range(line_no, v * self.scale, s)

    def _in_range(self, line_no: int, t: float, text: str) -> float:
        if not self.lo <= t <= self.hi:
            unit = "" if self.unit == "iso" else f" (read as epoch {self.unit})"
            raise ReplayFormatError(
                self.path, line_no, f"timestamp {text[:40]}{unit} is not {self._range_text()}"
            )
        return t


@dataclass(frozen=True, slots=True)
class _Layout:
    format: RRFormat
    delimiter: str
    has_header: bool
    rr_col: int
    t_col: int


def _layout(path: str, fmt: RRFormat, line_no: int, first: str) -> _Layout:
    chosen = _detect(first) if fmt is RRFormat.AUTO else fmt
    if chosen is RRFormat.KUBIOS:
        return _Layout(RRFormat.KUBIOS, "", False, 0, -1)
    delim = max((",", ";", "\t"), key=first.count)
    head = _split(first, delim)
    if any(re.search(r"[a-zA-Z]", c) and not _is_iso(c) for c in head):
        names = [c.strip().lower() for c in head]
        rr_col = next((k for k, n in enumerate(names) if "rr" in n), -1)
        t_col = next((k for k, n in enumerate(names) if "time" in n or "date" in n), -1)
        if rr_col < 0:
            raise ReplayFormatError(path, line_no, "no RR column in the header (a name containing 'rr')")
        return _Layout(RRFormat.CSV, delim, True, rr_col, t_col)
    if len(head) == 1:
        return _Layout(RRFormat.CSV, delim, False, 0, -1)
    if len(head) == 2:
        return _Layout(RRFormat.CSV, delim, False, 1, 0)
    raise ReplayFormatError(path, line_no, f"{len(head)} columns without a header; expected 1 or 2")


class _Reader:
    """One pass over a file: :meth:`rows` yields ``(line_no, t or None, raw rr)``, checking as it goes.

    After the pass (or during it) ``layout``, ``times`` and ``header_start`` say what it found.
    """

    def __init__(self, path: Path, encoding: str, fmt: RRFormat, now_t: float) -> None:
        self.path = path
        self.name = str(path)
        self.encoding = encoding
        self.fmt = fmt
        self.layout: _Layout | None = None
        self.times = _Times(self.name, now_t)
        self.header_start: float | None = None

    def rows(self) -> Iterator[tuple[int, float | None, float]]:
        name = self.name
        seen_values = False
        with _open(self.path, self.encoding) as f:
            for line_no, line in enumerate(f, start=1):
                s = line.strip()
                if not s:
                    continue
                if s.startswith("#"):
                    if seen_values and (self.layout is None or self.layout.format is RRFormat.KUBIOS):
                        raise ReplayFormatError(name, line_no, "a header line after the RR values")
                    if not seen_values and self.header_start is None:
                        self.header_start = _header_start(s)
                    continue
                layout = self.layout
                if layout is None:
                    layout = self.layout = _layout(name, self.fmt, line_no, s)
                    if layout.has_header:
                        continue
                seen_values = True
                if layout.format is RRFormat.KUBIOS:
                    try:
                        v = _number(s)
                    except ValueError:
                        raise ReplayFormatError(name, line_no, f"not a number: {s[:40]!r}") from None
                    yield line_no, None, v
                    continue
                row = _split(s, layout.delimiter)
                need = max(layout.rr_col, layout.t_col) + 1
                if len(row) < need:
                    raise ReplayFormatError(name, line_no, f"{len(row)} columns, expected at least {need}")
                try:
                    v = _number(row[layout.rr_col].strip())
                except ValueError:
                    raise ReplayFormatError(
                        name, line_no, f"RR is not a number: {row[layout.rr_col][:40]!r}"
                    ) from None
                _check_rr(name, line_no, v)
                t = self.times.parse(line_no, row[layout.t_col]) if layout.t_col >= 0 else None
                yield line_no, t, v


def scan_rr_file(path: str | Path, fmt: RRFormat = RRFormat.AUTO, *, now_t: float | None = None) -> RRScan:
    """Check every line of an RR file (constant memory); raises ReplayFormatError naming the first bad line."""
    p = Path(path)
    name = str(p)
    now = time.time() if now_t is None else now_t
    try:
        st = p.stat()
    except OSError as exc:
        raise ReplayFormatError(name, 0, f"cannot read the file ({exc.strerror})") from None
    encoding = _encoding(p)
    n = dups = 0
    total_ms = 0.0
    all_below_10 = True
    first_rr = 0.0
    first_t: float | None = None
    prev_t: float | None = None
    reader = _Reader(p, encoding, fmt, now)
    last_line = 0
    not_positive: tuple[int, float] | None = None
    too_long: tuple[int, float] | None = None
    for line_no, t, v in reader.rows():
        last_line = line_no
        if t is not None:
            if prev_t is not None and t < prev_t:
                raise ReplayFormatError(name, line_no, "timestamp goes backwards")
            if prev_t is not None and t == prev_t:
                dups += 1
                continue
            if first_t is None:
                first_t = t
            prev_t = t
        if n == 0:
            first_rr = v
        n += 1
        total_ms += v
        if v >= 10.0 and all_below_10:
            all_below_10 = False
        if v <= 0.0 and not_positive is None:
            not_positive = (line_no, v)
        if v >= MAX_RR_MS and too_long is None:
            too_long = (line_no, v)
    layout, times = reader.layout, reader.times
    if layout is None or n == 0:
        raise ReplayFormatError(name, max(last_line, 1), "no RR values")
    scale = 1000.0 if layout.format is RRFormat.KUBIOS and all_below_10 else 1.0
    # Kubios values are checked here, once their unit is known (seconds only when every value is below 10,
    # so then none can be too long): the first impossible one, by line
    bad = [b for b in (not_positive, too_long if scale == 1.0 else None) if b is not None]
    if bad:
        line_no, v = min(bad)
        _check_rr(name, line_no, v * scale)
    return RRScan(
        path=name,
        format=layout.format,
        encoding=encoding,
        n_beats=n,
        duplicates=dups,
        duration_s=total_ms * scale / 1000.0,
        rr_scale=scale,
        delimiter=layout.delimiter,
        has_header=layout.has_header,
        rr_col=layout.rr_col,
        t_col=layout.t_col,
        t_unit=times.unit,
        first_t=first_t,
        last_t=prev_t,
        first_rr_ms=first_rr * scale,
        header_start_t=reader.header_start if layout.format is RRFormat.KUBIOS else None,
        size_bytes=st.st_size,
        mtime_ns=st.st_mtime_ns,
    )


def iter_rr_file(scan: RRScan, *, now_t: float | None = None) -> Iterator[tuple[float | None, float]]:
    """``(t or None, rr_ms)`` per beat of a scanned file, duplicates skipped, in file order.

    Raises ReplayFormatError when the file changed since :func:`scan_rr_file` (or a line no longer reads).
    """
    p = Path(scan.path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ReplayFormatError(scan.path, 0, f"cannot read the file ({exc.strerror})") from None
    if (st.st_size, st.st_mtime_ns) != (scan.size_bytes, scan.mtime_ns):
        raise ReplayFormatError(scan.path, 0, "the file changed while it was being read")
    now = time.time() if now_t is None else now_t
    prev_t: float | None = None
    n = 0
    for _, t, v in _Reader(p, scan.encoding, scan.format, now).rows():
        if t is not None:
            if t == prev_t:
                continue
            prev_t = t
        n += 1
        yield t, v * scan.rr_scale
    if n != scan.n_beats:
        raise ReplayFormatError(scan.path, 0, "the file changed while it was being read")
