"""--from/--to: the person's local days, today/yesterday/7d, --to includes its day, one meaning everywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from calmstrap.ranges import RangeError, parse_span, parse_when

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 10, 7, 15, 30, tzinfo=NY).timestamp()


def test_a_day_as_to_includes_the_whole_day() -> None:
    """--from D --to D is that one local day: New York midnight to the next midnight."""
    span = parse_span("2026-10-05", "2026-10-05", tz=NY)
    assert span.start_t == datetime(2026, 10, 5, tzinfo=NY).timestamp()
    assert span.end_t == datetime(2026, 10, 6, tzinfo=NY).timestamp()


def test_today_yesterday_and_days_back() -> None:
    """today and yesterday are local days; 7d is the last seven days with today."""
    assert parse_when("today", end=False, tz=NY, now_t=NOW) == datetime(2026, 10, 7, tzinfo=NY).timestamp()
    assert parse_when("today", end=True, tz=NY, now_t=NOW) == datetime(2026, 10, 8, tzinfo=NY).timestamp()
    assert (
        parse_when("yesterday", end=False, tz=NY, now_t=NOW) == datetime(2026, 10, 6, tzinfo=NY).timestamp()
    )
    assert parse_when("7d", end=False, tz=NY, now_t=NOW) == datetime(2026, 10, 1, tzinfo=NY).timestamp()
    assert parse_when("2w", end=False, tz=NY, now_t=NOW) == datetime(2026, 9, 24, tzinfo=NY).timestamp()


def test_date_times_are_exact_and_local_unless_they_say_otherwise() -> None:
    """A naive date-time is local time in the zone; one with an offset or Z is taken as written."""
    assert parse_when("2026-10-05T08:00", end=True, tz=NY) == datetime(2026, 10, 5, 8, tzinfo=NY).timestamp()
    assert (
        parse_when("2026-10-05T08:00Z", end=False, tz=NY) == datetime(2026, 10, 5, 8, tzinfo=UTC).timestamp()
    )
    assert parse_when("1700000000", end=False, tz=NY) == 1_700_000_000.0


def test_bad_values_say_what_is_expected() -> None:
    """Nonsense, 7d as --to and a backwards span are errors with a message."""
    with pytest.raises(RangeError, match="not a date"):
        parse_when("5 Oct", end=False, tz=NY)
    with pytest.raises(RangeError, match="for --from"):
        parse_when("7d", end=True, tz=NY)
    with pytest.raises(RangeError, match="before"):
        parse_span("2026-10-06", "2026-10-05", tz=NY)
