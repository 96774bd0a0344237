"""Acceptance replays (issue 10, points 3 and 4) through ``calmstrap run --source replay:FILE``.

Real resting recordings: pyhrv's two NN series (tests/fixtures/README.md; MIT-BIH Normal Sinus Rhythm).
"Four hours" is the recording looped end to end until four hours of beats (the 60-minute series four times,
the 5-minute one 48 times). Files are written as Kubios RR text, the way ``sensors/replay.py`` reads them, and
replayed at a very high ``--speed``; the tests read what the service wrote into the archive.

Spike and jog are the same real recording reshaped: the heart-rate offset and the beat-to-beat variability
follow a profile (``shape``): the local mean RR (15-beat moving average) moves to the new HR and the
deviations around it are scaled. Spike: +25 bpm within 60 s, held 2 min, back over 4 min, RMSSD down to
a third; jog: +55 bpm over 2 min, held 20 min, back with a 100 s time constant, RMSSD down to a quarter.
No motion data in either.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
HOUR = 3600.0

Profile = Callable[[float], tuple[float, float]]
"""t (s from the start of the file) -> (HR offset bpm, variability factor)."""


def looped(name: str, hours: float, scale: float = 1.0) -> npt.NDArray[np.float64]:
    """The recording (RR x ``scale``) repeated until ``hours`` of beats."""
    rr = np.load(FIXTURES / f"SampleNNISeries{name}.npy").astype(np.float64) * scale
    reps = math.ceil(hours * HOUR * 1000.0 / rr.sum())
    out = np.tile(rr, reps)
    return out[: int(np.searchsorted(np.cumsum(out), hours * HOUR * 1000.0)) + 1]


def shape(rr: npt.NDArray[np.float64], profile: Profile) -> npt.NDArray[np.float64]:
    """Move the local mean RR to HR + offset and scale the beat-to-beat deviations by the profile's factor."""
    k = 15
    mean = np.convolve(np.pad(rr, (k // 2, k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    out = np.empty_like(rr)
    t = 0.0  # the reshaped recording's own time: a faster heart fits more beats into a minute
    for i in range(rr.size):
        d_hr, var = profile(t)
        new_mean = 60000.0 / (60000.0 / mean[i] + d_hr)
        out[i] = new_mean + (rr[i] - mean[i]) * var * new_mean / mean[i]
        t += out[i] / 1000.0
    return out


def spike(t0: float) -> Profile:
    def f(t: float) -> tuple[float, float]:
        x = t - t0
        if x < 0 or x > 420:
            frac = 0.0
        elif x < 60:
            frac = x / 60
        elif x < 180:
            frac = 1.0
        else:
            frac = 1.0 - (x - 180) / 240
        return 25.0 * frac, 1.0 - frac * 2.0 / 3.0

    return f


def jog(t0: float) -> Profile:
    def f(t: float) -> tuple[float, float]:
        x = t - t0
        if x < 0:
            frac = 0.0
        elif x < 120:
            frac = x / 120
        elif x < 1320:
            frac = 1.0
        else:
            frac = math.exp(-(x - 1320) / 100.0)
        return 55.0 * frac, 1.0 - 0.75 * frac

    return f


def replay(tmp_path: Path, rr: npt.NDArray[np.float64]) -> sqlite3.Connection:
    f = tmp_path / "rr.txt"
    f.write_text("# replay scenario\n" + "\n".join(f"{x:.3f}" for x in rr) + "\n", encoding="utf-8")
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CALMSTRAP_GENERAL__USER": "r"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "calmstrap",
            "run",
            "--source",
            f"replay:{f}",
            "--speed",
            "1e6",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return sqlite3.connect(data / "archive.db")


def _arousal(conn: sqlite3.Connection) -> list[tuple[float, float, str, int, int]]:
    return list(conn.execute("SELECT t, score, state, warming_up, gated FROM arousal ORDER BY t"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Long", "Short"])
def test_four_hours_at_rest_score_around_fifty_without_episodes(tmp_path: Path, name: str) -> None:
    """Four hours of a real resting recording: no episode, median score 40-60, "high" under 2 %.

    Measured (2026-12-01): through the CLI the 5-minute recording looped 48 times has a median of 50.6, the
    60-minute one 53.8, "high" 0 % in both (48.9 and 52.5 before the artifact thresholds' centred windows); in-process with three draws of the baseline's sample spacing
    49.9-50.2 and 53.9-54.9. Before the baseline kept every distinct window for its first day it kept
    one per 5 minutes after warm-up, about 45 samples in these 4 hours, at whole-minute spacings that met the
    5-minute loop in the same few places: the 5-minute loop's median was 38.9-41.3 through the CLI and
    36.7-52.6 over other draws, the 60-minute one's 50-53 and 51.3-59.9 (processing/baseline.py).
    """
    conn = replay(tmp_path, looped(name, 4.0))
    rows = [r for r in _arousal(conn) if not r[3]]
    # 2,880 fast windows in 4 h, less the 30-minute warm-up; for the 5-minute recording each of the 47 joins
    # of the loop is a jump the artifact check flags, so the 12 windows across it are invalid (about 560)
    assert len(rows) > 1800
    scores = np.array([r[1] for r in rows])
    high = sum(r[2] == "high" for r in rows) / len(rows)
    assert 40.0 <= float(np.median(scores)) <= 60.0
    assert high < 0.02
    assert conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM baseline WHERE bin = 'all' AND source = 'personal'").fetchone()[
        0
    ]


@pytest.mark.slow
def test_resting_at_95_bpm_gets_a_baseline_within_the_first_hour(tmp_path: Path) -> None:
    """Every RR x 0.8 (HR about 98): personal within the first hour, at least 80 % of later samples scored.

    Measured (2026-12-01): personal after 31.5 minutes, 100 % of the later samples scored, median 55.7."""
    rr = looped("Long", 2.0, scale=0.8)
    assert 90.0 < 60000.0 / rr.mean() < 100.0
    conn = replay(tmp_path, rr)
    rows = _arousal(conn)
    t0 = rows[0][0]
    personal_t = next(r[0] for r in rows if not r[3])
    assert personal_t - t0 < HOUR
    later = [r for r in rows if r[0] - t0 >= HOUR]
    assert sum(not r[4] and not r[3] for r in later) / len(later) >= 0.8
    hr = conn.execute("SELECT hr_bpm FROM baseline WHERE bin = 'all' ORDER BY t DESC LIMIT 1").fetchone()[0]
    assert hr == pytest.approx(60000.0 / rr.mean(), abs=3.0)


@pytest.mark.slow
def test_a_spike_after_a_resting_hour_is_an_episode(tmp_path: Path) -> None:
    """+25 bpm within 60 s, held 2 min, back over 4 min (no motion data) after a resting hour: one episode."""
    start = 1.25 * HOUR
    conn = replay(tmp_path, shape(looped("Long", 1.5), spike(start)))
    eps = list(conn.execute("SELECT onset_t, duration_s, exertion FROM episodes"))
    t0 = conn.execute("SELECT MIN(t) FROM beats").fetchone()[0]
    assert len(eps) == 1
    onset, duration, exertion = eps[0]
    assert start - 120 < onset - t0 < start + 120 and duration > 120 and not exertion
    assert conn.execute("SELECT COUNT(*) FROM arousal WHERE state = 'active'").fetchone()[0] == 0


@pytest.mark.slow
def test_a_twenty_minute_jog_is_active_not_an_episode(tmp_path: Path) -> None:
    """A 20-minute jog (+55 bpm, no motion data) after a resting hour: ``active``, and no episode."""
    start = 1.0 * HOUR
    conn = replay(tmp_path, shape(looped("Long", 1.9), jog(start)))
    t0 = conn.execute("SELECT MIN(t) FROM beats").fetchone()[0]
    assert conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 0
    active = [t - t0 for (t,) in conn.execute("SELECT t FROM arousal WHERE state = 'active' AND gated = 1")]
    assert active and min(active) < start + 420 and max(active) > start + 1320
    during = conn.execute(
        "SELECT COUNT(*) FROM arousal WHERE t BETWEEN ? AND ? AND state != 'active'",
        (t0 + start + 420, t0 + start + 1320),
    ).fetchone()[0]
    assert during == 0
