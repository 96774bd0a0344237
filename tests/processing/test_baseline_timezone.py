"""The baseline's time of day follows a time zone given as a tzinfo (the pipeline's ``[general] timezone``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from calmstrap.config import load_config
from calmstrap.pipeline import stream_config
from processing import snapshot
from processing.baseline import hour_of_day
from processing.stream import StreamProcessor

NEW_YORK = ZoneInfo("America/New_York")


def test_hour_of_day_in_a_zone_follows_daylight_saving() -> None:
    """Noon in New York is hour 12 in January (UTC-5) and in July (UTC-4)."""
    for month in (1, 7):
        t = datetime(2026, month, 15, 12, 0, tzinfo=NEW_YORK).timestamp()
        assert abs(hour_of_day(t, NEW_YORK) - 12.0) < 1e-9


def test_the_configured_timezone_reaches_the_baseline() -> None:
    """[general] timezone becomes the stream config's zone, and a processor with it survives a snapshot."""
    cfg = load_config(None, env={"CALMSTRAP_GENERAL__TIMEZONE": "America/New_York"})
    sc = stream_config(cfg)
    assert sc.utc_offset_s == NEW_YORK
    proc = StreamProcessor(user="me", device="strap", config=sc)
    back = snapshot.load(snapshot.dump(proc, kind="test"), kind="test")
    assert back.baseline.utc_offset_s == NEW_YORK
