"""Breathing practice sessions in the archive (table ``practice``, schema version 3): one row a session.

A practice is logged as practice minutes with the heart-rate oscillation at the paced breathing rate
(:class:`processing.outcomes.HrOscillation`); it is never a prompt, so it never counts as "prompts sent".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from processing.outcomes import HrOscillation
from storage.archive import Archive


@dataclass(frozen=True, slots=True)
class PracticeRecord:
    id: str
    user: str
    start_t: float
    end_t: float
    minutes: float
    breaths_per_min: float
    origin: str
    """Who started it: ``page``, ``cli`` or ``mqtt``."""
    completed: bool
    n_beats: int
    oscillation: HrOscillation
    hr_change_bpm: float
    """Mean HR over the last 20 s minus the first 20 s (NaN when either is empty)."""


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def add_practice(archive: Archive, r: PracticeRecord) -> None:
    """Store one practice session (replaces a row with the same id); committed by the caller."""
    with archive.transaction():
        archive.conn.execute(
            "INSERT OR REPLACE INTO practice (id, seq, user, start_t, end_t, minutes, breaths_per_min, origin,"
            " completed, n_beats, osc_freq_hz, osc_amplitude_bpm, osc_power_share, hr_change_bpm)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                r.id,
                archive._next_seq(),
                r.user,
                r.start_t,
                r.end_t,
                r.minutes,
                r.breaths_per_min,
                r.origin,
                int(r.completed),
                r.n_beats,
                _num(r.oscillation.freq_hz),
                _num(r.oscillation.amplitude_bpm),
                _num(r.oscillation.power_share),
                _num(r.hr_change_bpm),
            ),
        )


def practice_minutes(archive: Archive, user: str, since_t: float) -> float:
    """Minutes of practice ``user`` logged since ``since_t``."""
    row = archive.conn.execute(
        "SELECT COALESCE(SUM(minutes), 0) FROM practice WHERE user = ? AND start_t >= ?", (user, since_t)
    ).fetchone()
    return float(row[0])
