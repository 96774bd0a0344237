"""Weekly progress (issue 4, point 8): the numbers the dashboard and the therapist report show, per ISO week.

The product's promise is measured here: arousal spikes with less amplitude (median peak amplitude), that
pass more quickly (median t50 and recovery), less often (episodes per hour worn), over a calmer resting
baseline (ln RMSSD and HR of the calmest windows, as a 7-day rolling mean with a band), and whether
prompts helped (share of prompts that helped: the user's own answer when given, else the measured one).

Resting baseline: for each local day, the calmest ``calm_share`` (10 %, at least ``min_calm_windows``) of
that day's scored, ungated windows (lowest arousal score) give the day's resting ln RMSSD and HR
(medians). A week's value is the mean of the daily values over the 7 days ending on its last worn day;
the band is that mean ± one SD of those daily values.

Pure: no I/O. ``storage.progress.refresh_weekly_progress`` feeds it from the archive.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

NAN = float("nan")
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    onset_t: float
    amplitude: float
    """How far the episode rose; the archive loader passes ``amplitude_a`` (personal-baseline SDs)."""
    t50_s: float
    recovery_s: float


@dataclass(frozen=True, slots=True)
class ScoredWindow:
    """One scored fast window (an arousal row): only ungated ones with a finite RMSSD count as resting."""

    t: float
    score: float
    hr_bpm: float
    ln_rmssd: float


@dataclass(frozen=True, slots=True)
class PromptRecord:
    t: float
    helped: bool | None
    """The user's own answer when given, else the measured outcome; None when neither is known."""


@dataclass(frozen=True, slots=True)
class WearRecord:
    """``seconds`` of beats recorded in the span starting at ``t`` (e.g. one hour)."""

    t: float
    seconds: float


@dataclass(frozen=True, slots=True)
class WeekProgress:
    user: str
    week: str
    """ISO week, e.g. ``2026-W48``."""
    week_start_t: float
    hours_worn: float
    episodes: int
    episodes_per_hour: float
    median_amplitude: float
    median_t50_s: float
    median_recovery_s: float
    resting_ln_rmssd: float
    resting_ln_rmssd_lo: float
    resting_ln_rmssd_hi: float
    resting_hr_bpm: float
    prompts_sent: int
    prompts_helped: int
    helped_share: float
    first_day: dt.date | None = None
    """The first local day the row covers: the Monday, or the range's first day when it cuts the week."""
    last_day: dt.date | None = None
    """The last local day the row covers (inclusive)."""
    partial: bool = False
    """True when the chosen range covers only part of this week (the numbers are of that part only)."""

    @property
    def days_label(self) -> str:
        """The days in words, e.g. ``5-11 Oct 2026``, ``28 Sep-4 Oct 2026`` or ``5 Oct 2026``."""
        return day_span_label(self.first_day, self.last_day)


def day_span_label(first: dt.date | None, last: dt.date | None) -> str:
    """Two dates as one short span: ``5-11 Oct 2026``, ``28 Sep-4 Oct 2026``, ``29 Dec 2025-4 Jan 2026``."""
    if first is None or last is None:
        return "?"
    if first == last:
        return f"{first.day} {first:%b %Y}"
    if first.year != last.year:
        return f"{first.day} {first:%b %Y}–{last.day} {last:%b %Y}"
    if first.month != last.month:
        return f"{first.day} {first:%b}–{last.day} {last:%b %Y}"
    return f"{first.day}–{last.day} {last:%b %Y}"


def local_date(t: float, tz: dt.tzinfo | None = None) -> dt.date:
    """The day of epoch ``t`` in ``tz`` (None: the system's time zone)."""
    if tz is None:
        return dt.datetime.fromtimestamp(t).date()
    return dt.datetime.fromtimestamp(t, tz).date()


def local_midnight_t(d: dt.date, tz: dt.tzinfo | None = None) -> float:
    """Epoch seconds of the start of day ``d`` in ``tz`` (None: the system's time zone)."""
    if tz is None:
        return dt.datetime(d.year, d.month, d.day).timestamp()
    return dt.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


def _week_key(d: dt.date) -> tuple[int, int]:
    iso = d.isocalendar()
    return iso.year, iso.week


def iso_week_label(t: float, tz: dt.tzinfo | None = None) -> str:
    """The ISO week (``2026-W48``) of the local day of ``t``, as the weekly progress rows are keyed."""
    year, week = _week_key(local_date(t, tz))
    return f"{year}-W{week:02d}"


def _median(xs: Sequence[float]) -> float:
    ys = [x for x in xs if math.isfinite(x)]
    return float(statistics.median(ys)) if ys else NAN


def daily_resting(
    windows: Iterable[ScoredWindow],
    *,
    calm_share: float = 0.1,
    min_calm_windows: int = 5,
    tz: dt.tzinfo | None = None,
) -> dict[dt.date, tuple[float, float]]:
    """Per local day: (median ln RMSSD, median HR) of the calmest windows of that day."""
    by_day: dict[dt.date, list[ScoredWindow]] = defaultdict(list)
    for w in windows:
        if math.isfinite(w.ln_rmssd) and math.isfinite(w.hr_bpm) and math.isfinite(w.score):
            by_day[local_date(w.t, tz)].append(w)
    out: dict[dt.date, tuple[float, float]] = {}
    for day, ws in by_day.items():
        if len(ws) < min_calm_windows:
            continue
        k = max(min_calm_windows, math.ceil(calm_share * len(ws)))
        calm = sorted(ws, key=lambda w: w.score)[:k]
        out[day] = (_median([w.ln_rmssd for w in calm]), _median([w.hr_bpm for w in calm]))
    return out


def _in(t: float, start_t: float | None, end_t: float | None) -> bool:
    return (start_t is None or t >= start_t) and (end_t is None or t < end_t)


def weekly_progress(
    user: str,
    *,
    episodes: Sequence[EpisodeRecord],
    windows: Sequence[ScoredWindow],
    prompts: Sequence[PromptRecord],
    wear: Sequence[WearRecord],
    tz: dt.tzinfo | None = None,
    calm_share: float = 0.1,
    rolling_days: int = 7,
    start_t: float | None = None,
    end_t: float | None = None,
) -> list[WeekProgress]:
    """One :class:`WeekProgress` per ISO week (of local days in ``tz``) with any data, oldest first.

    With ``start_t``/``end_t`` only what lies in ``[start_t, end_t)`` counts (also for the resting
    baseline's rolling days), and a week the span cuts is marked ``partial`` with the days it covers.
    """
    daily = daily_resting([w for w in windows if _in(w.t, start_t, end_t)], calm_share=calm_share, tz=tz)
    return weekly_from_daily(
        user,
        episodes=episodes,
        daily=daily,
        prompts=prompts,
        wear=wear,
        tz=tz,
        rolling_days=rolling_days,
        start_t=start_t,
        end_t=end_t,
    )


def weekly_from_daily(
    user: str,
    *,
    episodes: Sequence[EpisodeRecord],
    daily: Mapping[dt.date, tuple[float, float]],
    prompts: Sequence[PromptRecord],
    wear: Sequence[WearRecord],
    tz: dt.tzinfo | None = None,
    rolling_days: int = 7,
    start_t: float | None = None,
    end_t: float | None = None,
) -> list[WeekProgress]:
    """:func:`weekly_progress` from the days' resting values already computed (:func:`daily_resting`), so a
    caller that keeps them (``storage.progress``'s incremental refresh) need not read the days again.

    A week's numbers depend on its own episodes, prompts and wear, and on the daily values of the
    ``rolling_days`` days ending on its last worn day (which reach into the week before, never further).
    """
    weeks: set[tuple[int, int]] = set()
    worn: dict[tuple[int, int], float] = defaultdict(float)
    for w in wear:
        if _in(w.t, start_t, end_t):
            k = _week_key(local_date(w.t, tz))
            worn[k] += w.seconds
            weeks.add(k)
    eps: dict[tuple[int, int], list[EpisodeRecord]] = defaultdict(list)
    for e in episodes:
        if _in(e.onset_t, start_t, end_t):
            k = _week_key(local_date(e.onset_t, tz))
            eps[k].append(e)
            weeks.add(k)
    prs: dict[tuple[int, int], list[PromptRecord]] = defaultdict(list)
    for p in prompts:
        if _in(p.t, start_t, end_t):
            k = _week_key(local_date(p.t, tz))
            prs[k].append(p)
            weeks.add(k)
    for d in daily:
        weeks.add(_week_key(d))
    out: list[WeekProgress] = []
    for year, week in sorted(weeks):
        monday = dt.date.fromisocalendar(year, week, 1)
        days_in = [d for d in daily if _week_key(d) == (year, week)]
        if days_in:
            last = max(days_in)
            span = [daily[d] for d in daily if last - dt.timedelta(days=rolling_days - 1) <= d <= last]
            lr = [x[0] for x in span]
            hr = [x[1] for x in span]
            lr_mean = statistics.fmean(lr)
            lr_sd = statistics.stdev(lr) if len(lr) > 1 else 0.0
            rest = (lr_mean, lr_mean - lr_sd, lr_mean + lr_sd, statistics.fmean(hr))
        else:
            rest = (NAN, NAN, NAN, NAN)
        week_eps = eps.get((year, week), [])
        week_prs = prs.get((year, week), [])
        hours = worn.get((year, week), 0.0) / 3600.0
        answered = [x.helped for x in week_prs if x.helped is not None]
        helped = sum(1 for x in answered if x)
        week_start = local_midnight_t(monday, tz)
        week_end = local_midnight_t(monday + dt.timedelta(days=7), tz)
        span_start = week_start if start_t is None else max(week_start, start_t)
        span_end = week_end if end_t is None else min(week_end, end_t)
        out.append(
            WeekProgress(
                user=user,
                week=f"{year}-W{week:02d}",
                week_start_t=week_start,
                hours_worn=hours,
                episodes=len(week_eps),
                episodes_per_hour=len(week_eps) / hours if hours > 0 else NAN,
                median_amplitude=_median([x.amplitude for x in week_eps]),
                median_t50_s=_median([x.t50_s for x in week_eps]),
                median_recovery_s=_median([x.recovery_s for x in week_eps]),
                resting_ln_rmssd=rest[0],
                resting_ln_rmssd_lo=rest[1],
                resting_ln_rmssd_hi=rest[2],
                resting_hr_bpm=rest[3],
                prompts_sent=len(week_prs),
                prompts_helped=helped,
                helped_share=helped / len(answered) if answered else NAN,
                first_day=local_date(span_start, tz),
                last_day=local_date(span_end - 1.0, tz),
                partial=span_start > week_start or span_end < week_end,
            )
        )
    return out
