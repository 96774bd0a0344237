"""Weekly progress in the archive: read the archive, compute (processing.progress), write ``weekly_progress``.

``refresh_weekly_progress(archive, user)`` is the entry point the exports and the dashboard writer use.
"""

from __future__ import annotations

import math

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
    archive: Archive, user: str
) -> tuple[list[EpisodeRecord], list[ScoredWindow], list[PromptRecord], list[WearRecord]]:
    """The rows weekly progress needs, as processing's input records."""
    episodes = [
        # amplitude in personal-baseline SDs (amplitude_a): the score 100·Φ(A) saturates near 100, so score
        # points would hide a spike getting smaller; SDs keep "less amplitude" visible week by week
        EpisodeRecord(onset_t=r[0], amplitude=r[1], t50_s=r[2], recovery_s=r[3])
        for r in archive.query(
            "SELECT onset_t, amplitude_a, t50_s, recovery_s FROM episodes WHERE user = ? ORDER BY onset_t",
            (user,),
        )
    ]
    windows = [
        ScoredWindow(t=r[0], score=r[1], hr_bpm=r[2], ln_rmssd=math.log(r[3]))
        for r in archive.query(
            "SELECT t, score, hr_bpm, rmssd_ms FROM arousal WHERE user = ? AND gated = 0 AND warming_up = 0"
            " AND hr_bpm IS NOT NULL AND rmssd_ms > 0",
            (user,),
        )
    ]
    prompts = [
        PromptRecord(t=r[0], helped=_helped(r[1], r[2]))
        for r in archive.query(
            "SELECT t, feedback_helped, helped FROM prompts WHERE user = ? AND kind != 'recovery' ORDER BY t",
            (user,),
        )
    ]
    wear = [
        WearRecord(t=3600.0 * r[0], seconds=r[1] / 1000.0)
        for r in archive.query(
            "SELECT CAST(t / 3600 AS INTEGER) AS h, SUM(rr_ms) FROM beats WHERE user = ? GROUP BY h", (user,)
        )
    ]
    return episodes, windows, prompts, wear


def refresh_weekly_progress(
    archive: Archive, user: str, *, utc_offset_s: float | None = None
) -> list[WeekProgress]:
    """Recompute every week of ``user`` from the archive and store them (:meth:`Archive.replace_weekly_progress`)."""
    episodes, windows, prompts, wear = load_progress_inputs(archive, user)
    weeks = weekly_progress(
        user, episodes=episodes, windows=windows, prompts=prompts, wear=wear, utc_offset_s=utc_offset_s
    )
    archive.replace_weekly_progress(user, weeks)
    return weeks
