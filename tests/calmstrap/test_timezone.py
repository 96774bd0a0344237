"""The person's time zone reaches the prompt policy: quiet hours are their local night, not UTC's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from calmstrap.config import load_config
from calmstrap.pipeline import new_session
from processing.episodes import EpisodeOnset
from storage.archive import Archive

NY = ZoneInfo("America/New_York")


def _onset(t: float) -> EpisodeOnset:
    return EpisodeOnset(episode_id=f"u-{t:.0f}", user="u", onset_t=t - 60.0, detected_t=t, score=95.0)


def test_quiet_hours_follow_the_configured_time_zone(tmp_path: Path) -> None:
    """With timezone America/New_York, an onset at 23:00 New York gets no prompt; one at 23:00 UTC does."""
    cfg = load_config(None, env={"CALMSTRAP_GENERAL__TIMEZONE": "America/New_York"})
    with Archive(tmp_path / "a.db") as archive:
        ny_night = new_session(cfg, archive, [], user="u", device="d")
        assert ny_night.policy.on_onset(_onset(datetime(2026, 11, 3, 23, 0, tzinfo=NY).timestamp())) is None
        utc_night = new_session(cfg, archive, [], user="u", device="d")
        # 23:00 UTC is 18:00 in New York: not quiet there
        prompt = utc_night.policy.on_onset(_onset(datetime(2026, 11, 3, 23, 0, tzinfo=UTC).timestamp()))
        assert prompt is not None
