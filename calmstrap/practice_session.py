"""A guided breathing practice as ONE session: at most one push, the pacer on the page, one archive row.

Started from the page, ``calmstrap practice`` or an MQTT ``practice`` command. While it runs, every
``PROGRESS_EVERY_S`` (pipeline seconds) the page gets the heart-rate oscillation at the paced rate so far
(:func:`processing.outcomes.hr_oscillation` on the session's clean beats) and whether HR is coming down; at
the end (or when the service stops) one ``practice`` row is stored (:mod:`storage.practice`). A practice
never goes through the prompt path: it adds nothing to "prompts sent". One practice per person at a time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts.commands import Practice
from alerts.notice import Notice, NoticeChannel
from calmstrap.pipeline import StrapSession
from processing.outcomes import HrOscillation, hr_oscillation
from storage.practice import PracticeRecord, add_practice
from web.live import LiveHub
from web.words import STOP_IF_WORSE

log = logging.getLogger("calmstrap.practice")

PROGRESS_EVERY_S = 5.0
HR_TREND_S = 20.0
INHALE_SHARE = 0.4
"""Each breath is 40 % in, 60 % out (4 s in, 6 s out at six a minute)."""


@dataclass(frozen=True, slots=True)
class PracticeProgress:
    n_beats: int
    oscillation: HrOscillation
    hr_change_bpm: float


def pattern(breaths_per_min: float) -> tuple[float, float]:
    """(inhale_s, exhale_s) of one breath at ``breaths_per_min``."""
    cycle_s = 60.0 / breaths_per_min
    inhale_s = round(INHALE_SHARE * cycle_s, 1)
    return inhale_s, round(cycle_s - inhale_s, 1)


def progress(session: StrapSession, start_t: float, end_t: float, breaths_per_min: float) -> PracticeProgress:
    """The oscillation and HR change over the session's clean beats in [start_t, end_t]."""
    rows = session.archive.query(
        "SELECT t, rr_ms FROM beats WHERE user = ? AND device = ? AND t >= ? AND t <= ? AND artifact = 0"
        " ORDER BY t",
        (session.user, session.device, start_t, end_t),
    )
    if not rows:
        return PracticeProgress(0, HrOscillation(math.nan, math.nan, math.nan), math.nan)
    t = np.array([r[0] for r in rows], dtype=float)
    rr_ms = np.array([r[1] for r in rows], dtype=float)
    osc = hr_oscillation(rr_ms, target_hz=breaths_per_min / 60.0)
    hr = 60000.0 / rr_ms
    first = hr[t <= t[0] + HR_TREND_S]
    last = hr[t >= t[-1] - HR_TREND_S]
    change = float(last.mean() - first.mean()) if t[-1] - t[0] >= 2 * HR_TREND_S else math.nan
    return PracticeProgress(len(rows), osc, change)


def _round(x: float, nd: int = 1) -> float | None:
    return round(x, nd) if math.isfinite(x) else None


def _doc(
    pid: str, cmd: Practice, start_t: float, now: float, p: PracticeProgress | None, running: bool
) -> dict[str, Any]:
    inhale_s, exhale_s = pattern(cmd.breaths_per_min)
    return {
        "id": pid,
        "running": running,
        "minutes": cmd.minutes,
        "breaths_per_min": cmd.breaths_per_min,
        "inhale_s": inhale_s,
        "exhale_s": exhale_s,
        "start_t": start_t,
        "elapsed_s": round(now - start_t, 1),
        "stop_line": STOP_IF_WORSE,
        "osc_amplitude_bpm": None if p is None else _round(p.oscillation.amplitude_bpm),
        "osc_power_share": None if p is None else _round(p.oscillation.power_share, 2),
        "hr_change_bpm": None if p is None else _round(p.hr_change_bpm),
    }


def _hubs(session: StrapSession) -> list[LiveHub]:
    return [n for n in session.notifiers if isinstance(n, LiveHub)]


def now_t(session: StrapSession) -> float:
    t = session.processor.last_t
    return t if math.isfinite(t) else time.time()


async def run_practice(
    session: StrapSession, cmd: Practice, time_scale: float, origin: str, start_t: float
) -> None:
    """One practice from ``start_t``, ``cmd.minutes`` long on the pipeline's clock (``time_scale`` x the wall
    clock). The caller keeps it the only one of its user (``session.practice``)."""
    pid = f"{session.user}-practice-{round(start_t * 1000)}"
    duration_s = 60.0 * cmd.minutes
    wall0 = time.monotonic()
    log.info("%s: breathing practice started (%g min, from the %s)", session.user, cmd.minutes, origin)
    completed = False
    p: PracticeProgress | None = None
    end_t = start_t
    try:
        if origin != "page":  # the page is open already; a push brings the phone to it
            inhale_s, exhale_s = pattern(cmd.breaths_per_min)
            notice = Notice(
                id=pid,
                user=session.user,
                t=start_t,
                title="Breathing practice",
                body=f"{cmd.minutes:g} minute{'s' if cmd.minutes != 1 else ''}: in for {inhale_s:g}, "
                f"out for {exhale_s:g}. Open the page to breathe with the circle. {STOP_IF_WORSE}",
                expires_t=start_t + duration_s,
                link_query=f"practice={pid}",
            )
            for n in session.notifiers:
                if isinstance(n, NoticeChannel):
                    await n.send_notice(notice)
        for hub in _hubs(session):
            hub.practice_update(session.user, _doc(pid, cmd, start_t, start_t, None, True))
        while True:
            elapsed_s = (time.monotonic() - wall0) * time_scale
            if elapsed_s >= duration_s:
                break
            await asyncio.sleep(min(PROGRESS_EVERY_S, duration_s - elapsed_s) / time_scale)
            now = min(now_t(session), start_t + duration_s)
            p = progress(session, start_t, now, cmd.breaths_per_min)
            for hub in _hubs(session):
                hub.practice_update(session.user, _doc(pid, cmd, start_t, now, p, True))
        completed = True
    finally:
        end_t = min(max(now_t(session), start_t), start_t + duration_s)
        minutes = cmd.minutes if completed else round((end_t - start_t) / 60.0, 2)
        p = progress(session, start_t, end_t, cmd.breaths_per_min)
        record = PracticeRecord(
            pid,
            session.user,
            start_t,
            end_t,
            minutes,
            cmd.breaths_per_min,
            origin,
            completed,
            p.n_beats,
            p.oscillation,
            p.hr_change_bpm,
        )
        add_practice(session.archive, record)
        final = _doc(pid, cmd, start_t, end_t, p, False) | {"minutes": minutes, "completed": completed}
        for hub in _hubs(session):
            hub.practice_update(session.user, final, add_week_min=minutes)
        log.info(
            "%s: breathing practice %s (%g min logged)",
            session.user,
            "done" if completed else "stopped",
            minutes,
        )
