"""Weekly progress numbers per ISO week (issue 4, point 8)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from processing.progress import EpisodeRecord, PromptRecord, ScoredWindow, WearRecord, weekly_progress

MON = 1_700_438_400.0  # Monday 2023-11-20 00:00 UTC (ISO week 2023-W47)
DAY = 86400.0


def _windows(day0: float, days: int, calm_lr: float, calm_hr: float) -> list[ScoredWindow]:
    out = []
    for d in range(days):
        for i in range(100):  # 10 calm windows (score 10) and 90 busier ones (score 60)
            calm = i < 10
            out.append(
                ScoredWindow(
                    t=day0 + d * DAY + 36000 + 60 * i,
                    score=10.0 if calm else 60.0,
                    hr_bpm=calm_hr if calm else calm_hr + 15,
                    ln_rmssd=calm_lr if calm else calm_lr - 0.5,
                )
            )
    return out


def test_weekly_numbers() -> None:
    """Two weeks: episodes, medians, rate per hour worn, calm-window baseline and prompt share per ISO week."""
    eps = [
        EpisodeRecord(MON + 3600, 40.0, 90.0, 200.0),
        EpisodeRecord(MON + DAY, 30.0, 60.0, 150.0),
        EpisodeRecord(MON + 2 * DAY, 20.0, 30.0, 100.0),
        EpisodeRecord(MON + 7 * DAY, 10.0, 20.0, 80.0),
    ]
    wins = _windows(MON, 7, 3.6, 62.0) + _windows(MON + 7 * DAY, 7, 3.9, 58.0)
    prompts = [
        PromptRecord(MON + 3700, True),
        PromptRecord(MON + DAY, False),
        PromptRecord(MON + 2 * DAY, None),
    ]
    wear = [WearRecord(MON + h * 3600, 3600.0) for h in range(10)] + [
        WearRecord(MON + 7 * DAY + h * 3600, 3600.0) for h in range(20)
    ]
    w1, w2 = weekly_progress("u", episodes=eps, windows=wins, prompts=prompts, wear=wear, tz=dt.UTC)
    assert (w1.week, w2.week) == ("2023-W47", "2023-W48")
    assert w1.week_start_t == MON
    assert (
        w1.episodes == 3
        and w1.hours_worn == pytest.approx(10.0)
        and w1.episodes_per_hour == pytest.approx(0.3)
    )
    assert w1.median_amplitude == 30.0 and w1.median_t50_s == 60.0 and w1.median_recovery_s == 150.0
    assert w1.resting_ln_rmssd == pytest.approx(3.6) and w1.resting_hr_bpm == pytest.approx(62.0)
    assert w1.prompts_sent == 3 and w1.prompts_helped == 1 and w1.helped_share == pytest.approx(0.5)
    assert w2.episodes_per_hour == pytest.approx(1 / 20)
    assert w2.resting_ln_rmssd == pytest.approx(3.9)  # the 7 days ending on its last day are all week 2
    assert w2.resting_ln_rmssd_lo == pytest.approx(3.9) and w2.resting_ln_rmssd_hi == pytest.approx(3.9)
    assert math.isnan(w2.helped_share) and w2.prompts_sent == 0


def test_rolling_mean_and_band_span_seven_days() -> None:
    """The resting value is the 7-day rolling mean of daily calm values, the band ± one SD."""
    wins = _windows(MON, 3, 3.0, 60.0) + _windows(MON + 3 * DAY, 4, 4.0, 60.0)
    (w,) = weekly_progress("u", episodes=[], windows=wins, prompts=[], wear=[], tz=dt.UTC)
    daily = [3.0] * 3 + [4.0] * 4
    mean = sum(daily) / 7
    sd = (sum((x - mean) ** 2 for x in daily) / 6) ** 0.5
    assert w.resting_ln_rmssd == pytest.approx(mean)
    assert (w.resting_ln_rmssd_lo, w.resting_ln_rmssd_hi) == pytest.approx((mean - sd, mean + sd))


def test_iso_week_label_uses_the_local_day() -> None:
    """Sunday 23:00 UTC is next week's Monday two hours east of UTC: the label follows the local day."""
    from processing.progress import iso_week_label

    sunday_23_utc = dt.datetime(2026, 11, 29, 23, 0, tzinfo=dt.UTC).timestamp()
    assert iso_week_label(sunday_23_utc, tz=dt.UTC) == "2026-W48"
    assert iso_week_label(sunday_23_utc, dt.timezone(dt.timedelta(hours=2))) == "2026-W49"


def test_range_counts_only_its_own_days_and_marks_the_week_partial() -> None:
    """A one-day range: only that day's episodes, prompts and wear count, and the week says it is partial."""
    eps = [EpisodeRecord(MON + 3600, 4.0, 90.0, 200.0), EpisodeRecord(MON + DAY + 3600, 2.0, 30.0, 100.0)]
    prompts = [PromptRecord(MON + 3700, True), PromptRecord(MON + DAY + 3700, True)]
    wear = [WearRecord(MON + d * DAY + h * 3600, 3600.0) for d in range(2) for h in range(5)]
    (w,) = weekly_progress(
        "u",
        episodes=eps,
        windows=[],
        prompts=prompts,
        wear=wear,
        tz=dt.UTC,
        start_t=MON + DAY,
        end_t=MON + 2 * DAY,
    )
    assert (w.episodes, w.prompts_sent, w.hours_worn, w.median_amplitude) == (1, 1, pytest.approx(5.0), 2.0)
    assert w.partial and w.first_day == w.last_day == dt.date(2023, 11, 21)
    assert w.days_label == "21 Nov 2023"


def test_weeks_break_at_local_midnight_of_the_time_zone() -> None:
    """In New York a Monday 02:00 UTC episode belongs to the Sunday before, so to the previous ISO week."""
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    eps = [EpisodeRecord(MON + 2 * 3600, 3.0, 60.0, 100.0)]
    (w,) = weekly_progress("u", episodes=eps, windows=[], prompts=[], wear=[], tz=ny)
    assert w.week == "2023-W46"
    assert w.week_start_t == dt.datetime(2023, 11, 13, tzinfo=ny).timestamp()
    assert not w.partial and w.days_label == "13–19 Nov 2023"
