"""Time ranges on the command line, with one meaning for every command (``export``, ``sync``).

``--from``/``--to`` take the person's local days (``[general] timezone``): ``YYYY-MM-DD``, ``today``,
``yesterday``; ``--from`` also ``7d`` / ``2w`` (that many days back, today included); or an exact ISO 8601
date-time (local unless it carries an offset) or epoch seconds. A day given as ``--to`` is included whole:
``--from 2026-10-05 --to 2026-10-05`` is that one day. A date-time given as ``--to`` is the exact end
(exclusive).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from processing.progress import local_midnight_t

_AGO = re.compile(r"(\d+)\s*([dw])")


class RangeError(ValueError):
    """A ``--from``/``--to`` value that is not a time; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open span ``[start_t, end_t)`` in epoch seconds; None: open on that side."""

    start_t: float | None
    end_t: float | None


def _day(text: str, today: date) -> date | None:
    t = text.strip().lower()
    if t == "today":
        return today
    if t == "yesterday":
        return today - timedelta(days=1)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        try:
            return date.fromisoformat(t)
        except ValueError:
            raise RangeError(f"{text!r} is not a date") from None
    return None


def parse_when(text: str, *, end: bool, tz: tzinfo | None, now_t: float | None = None) -> float:
    """One ``--from`` (``end`` False) or ``--to`` (``end`` True) value as epoch seconds."""
    now = datetime.now(tz) if now_t is None else datetime.fromtimestamp(now_t, tz)
    today = now.date()
    d = _day(text, today)
    if d is not None:
        return local_midnight_t(d + timedelta(days=1) if end else d, tz)
    m = _AGO.fullmatch(text.strip().lower())
    if m:
        if end:
            raise RangeError(f"--to {text!r}: a span like 7d is for --from (the last 7 days, today included)")
        days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        if days < 1:
            raise RangeError(f"{text!r}: expected at least 1d")
        return local_midnight_t(today - timedelta(days=days - 1), tz)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RangeError(
            f"{text!r} is not a date: expected YYYY-MM-DD, today, yesterday, 7d (for --from), "
            "an ISO 8601 date-time or epoch seconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz) if tz is not None else dt.astimezone()
    return dt.timestamp()


def parse_span(start: str | None, end: str | None, *, tz: tzinfo | None, now_t: float | None = None) -> Span:
    """``--from``/``--to`` as a span; raises :class:`RangeError` (also when ``--to`` is not after ``--from``)."""
    s = None if start is None else parse_when(start, end=False, tz=tz, now_t=now_t)
    e = None if end is None else parse_when(end, end=True, tz=tz, now_t=now_t)
    if s is not None and e is not None and e <= s:
        raise RangeError(f"--to {end} is before --from {start} (the span would be empty)")
    return Span(s, e)
