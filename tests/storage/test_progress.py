"""storage.progress.refresh_weekly_progress: archive rows in, weekly_progress rows out."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from processing.arousal import Arousal, ArousalState
from processing.episodes import Episode
from sensors.beats import beats_from_rr
from storage.archive import Archive
from storage.progress import refresh_weekly_progress

MON = 1_700_438_400.0  # Monday 2023-11-20 00:00 UTC


def test_refresh_writes_one_row_per_week(tmp_path: Path) -> None:
    """Beats, arousal and an episode in one week give one weekly_progress row with the computed numbers."""
    with Archive(tmp_path / "archive.db") as archive:
        archive.add_beats(beats_from_rr([1000.0] * 7200, start_t=MON + 8 * 3600, device="d", user="u"))
        for i in range(50):
            x = Arousal(
                MON + 8 * 3600 + 5 * i,
                20.0 + i,
                0.0,
                0.0,
                0.0,
                ArousalState.CALM,
                False,
                False,
                60.0 + i,
                40.0,
            )
            archive.add_arousal("u", x)
        archive.add_episode(
            Episode(
                "e1",
                "u",
                MON + 9 * 3600,
                MON + 9 * 3600 + 60,
                MON + 9 * 3600 + 300,
                95.0,
                2.5,
                40.0,
                2.0,
                300.0,
                240.0,
                70.0,
                200.0,
            )
        )
        archive.commit()
        weeks = refresh_weekly_progress(archive, "u", tz=UTC)
        assert [w.week for w in weeks] == ["2023-W47"]
        rows = archive.query(
            "SELECT week, hours_worn, episodes, median_amplitude, resting_hr_bpm FROM weekly_progress"
        )
    assert rows[0][0] == "2023-W47"
    assert rows[0][1] == pytest.approx(2.0)
    assert rows[0][2] == 1 and rows[0][3] == pytest.approx(2.0)  # amplitude_a: baseline SDs, not score points
    assert rows[0][4] == pytest.approx(62.0)  # median HR of the 5 calmest windows (scores 20..24)


def test_refresh_is_idempotent(tmp_path: Path) -> None:
    """Refreshing twice keeps one row per week."""
    with Archive(tmp_path / "archive.db") as archive:
        archive.add_beats(beats_from_rr([900.0] * 100, start_t=MON, device="d", user="u"))
        archive.commit()
        refresh_weekly_progress(archive, "u", tz=UTC)
        refresh_weekly_progress(archive, "u", tz=UTC)
        assert archive.count("weekly_progress", "u") == 1


def test_refresh_rewrites_only_weeks_that_changed(tmp_path: Path) -> None:
    """A second refresh with nothing new leaves the rows (and their seq) as they were: nothing to resend."""
    with Archive(tmp_path / "archive.db") as archive:
        archive.add_beats(beats_from_rr([900.0] * 100, start_t=MON, device="d", user="u"))
        archive.commit()
        refresh_weekly_progress(archive, "u", tz=UTC)
        seq = archive.query("SELECT seq FROM weekly_progress")
        refresh_weekly_progress(archive, "u", tz=UTC)
        assert archive.query("SELECT seq FROM weekly_progress") == seq
        archive.add_beats(beats_from_rr([900.0] * 100, start_t=MON + 3600, device="d", user="u"))
        archive.commit()
        refresh_weekly_progress(archive, "u", tz=UTC)
        assert archive.query("SELECT seq FROM weekly_progress") != seq
