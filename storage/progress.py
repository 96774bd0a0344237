"""Weekly progress in the archive: read the archive, compute (processing.progress), write ``weekly_progress``.

``refresh_weekly_progress(archive, user)`` is the entry point the exports and the dashboard writer use.
"""

from __future__ import annotations

import math
from datetime import tzinfo

from processing.progress import (
    EpisodeRecord,
    PromptRecord,
    ScoredWindow,
    WearRecord,
    WeekProgress,
    weekly_progress,
)
from storage.archive import Archive


def _helped(feedback: int | None, measured: int | None) -> bool | None:
    """The user's own answer wins over the measured outcome."""
    if feedback is not None:
        return bool(feedback)
    return None if measured is None else bool(measured)


def load_progress_inputs(
    archive: Archive, user: str, start_t: float | None = None, end_t: float | None = None
) -> tuple[list[EpisodeRecord], list[ScoredWindow], list[PromptRecord], list[WearRecord]]:
    """The rows weekly progress needs, as processing's input records (only ``[start_t, end_t)`` if given)."""
    lo = -math.inf if start_t is None else start_t
    hi = math.inf if end_t is None else end_t
    episodes = [
        # amplitude in personal-baseline SDs (amplitude_a): the score 100·Φ(A) saturates near 100, so score
        # points would hide a spike getting smaller; SDs keep "less amplitude" visible week by week
        EpisodeRecord(onset_t=r[0], amplitude=r[1], t50_s=r[2], recovery_s=r[3])
        for r in archive.query(
            "SELECT onset_t, amplitude_a, t50_s, recovery_s FROM episodes WHERE user = ?"
            " AND onset_t >= ? AND onset_t < ? ORDER BY onset_t",
            (user, lo, hi),
        )
    ]
    windows = [
        ScoredWindow(t=r[0], score=r[1], hr_bpm=r[2], ln_rmssd=math.log(r[3]))
        for r in archive.query(
            "SELECT t, score, hr_bpm, rmssd_ms FROM arousal WHERE user = ? AND gated = 0 AND warming_up = 0"
            " AND hr_bpm IS NOT NULL AND rmssd_ms > 0 AND t >= ? AND t < ?",
            (user, lo, hi),
        )
    ]
    prompts = [
        PromptRecord(t=r[0], helped=_helped(r[1], r[2]))
        for r in archive.query(
            "SELECT t, feedback_helped, helped FROM prompts WHERE user = ? AND kind != 'recovery'"
            " AND t >= ? AND t < ? ORDER BY t",
            (user, lo, hi),
        )
    ]
    # per clock hour, dated by its first beat (so an hour the range starts in stays inside the range)
    wear = [
        WearRecord(t=r[0], seconds=r[1] / 1000.0)
        for r in archive.query(
            "SELECT MIN(t), SUM(rr_ms) FROM beats WHERE user = ? AND t >= ? AND t < ?"
            " GROUP BY CAST(t / 3600 AS INTEGER)",
            (user, lo, hi),
        )
    ]
    return episodes, windows, prompts, wear


def range_progress(
    archive: Archive, user: str, start_t: float, end_t: float, *, tz: tzinfo | None = None
) -> list[WeekProgress]:
    """The weekly numbers of ``[start_t, end_t)`` only (a week the range cuts is ``partial``); stores nothing."""
    episodes, windows, prompts, wear = load_progress_inputs(archive, user, start_t, end_t)
    return weekly_progress(
        user,
        episodes=episodes,
        windows=windows,
        prompts=prompts,
        wear=wear,
        tz=tz,
        start_t=start_t,
        end_t=end_t,
    )


def refresh_weekly_progress(archive: Archive, user: str, *, tz: tzinfo | None = None) -> list[WeekProgress]:
    """Recompute every week of ``user`` from the archive and store them (:meth:`Archive.replace_weekly_progress`).

    ``tz``: the person's time zone (weeks are ISO weeks of their local days); None: the system's.
    """
    episodes, windows, prompts, wear = load_progress_inputs(archive, user)
    weeks = weekly_progress(user, episodes=episodes, windows=windows, prompts=prompts, wear=wear, tz=tz)
    stored = {
        r[0]: tuple(r[1:])
        for r in archive.query(
            f"SELECT week, {', '.join(STORED)} FROM weekly_progress WHERE user = ?", (user,)
        )
    }
    # only weeks whose numbers changed get a new row (and so a new seq): InfluxDB is not sent the same again
    changed = [w for w in weeks if stored.get(w.week) != _stored_form(w)]
    if changed:
        archive.replace_weekly_progress(user, changed)
    return weeks


STORED: tuple[str, ...] = (
    "week_start_t",
    "hours_worn",
    "episodes",
    "episodes_per_hour",
    "median_amplitude",
    "median_t50_s",
    "median_recovery_s",
    "resting_ln_rmssd",
    "resting_ln_rmssd_lo",
    "resting_ln_rmssd_hi",
    "resting_hr_bpm",
    "prompts_sent",
    "prompts_helped",
    "helped_share",
)
"""The ``weekly_progress`` columns a week's numbers are stored in (NaN as NULL)."""


def _stored_form(w: WeekProgress) -> tuple[object, ...]:
    out: list[object] = []
    for name in STORED:
        v = getattr(w, name)
        out.append(None if isinstance(v, float) and not math.isfinite(v) else v)
    return tuple(out)


def refresh_all(archive: Archive, *, tz: tzinfo | None = None) -> int:
    """Refresh the weekly progress of every user in the archive (``calmstrap sync`` before it pushes)."""
    users = list(archive.users())
    for user in users:
        refresh_weekly_progress(archive, user, tz=tz)
    return len(users)
