"""A simulated month in a real archive, made by driving the real pipeline (no sleeps, accelerated time).

Four weeks from Monday 2026-10-05 (ISO weeks 2026-W41 to W44), weekdays only (20 days of wear, weekends
off), 30 minutes a day from 09:00 UTC, one scripted arousal episode a day and a second one every other day. Over the weeks the episodes get smaller
and pass more quickly, as the product promises. Day 3 has a disconnect (30 s without notifications, the
session told of the drop), so the archive holds one DISCONNECT gap inside a day's recording.

Weekly progress: when ``storage.progress`` (issue 4) is in this build its ``refresh_weekly_progress`` fills
the ``weekly_progress`` table. Until then :func:`fill_weekly_progress` below does it with a small, documented
computation from the archive's own rows, so the exporter is tested on the table it reads in production.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calmstrap.config import Config
from calmstrap.pipeline import new_session
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from storage.archive import Archive

USER = "alice-7f3c"
DEVICE = "sim-strap"
START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC).timestamp()
DAYS = 28
WEAR_DAYS = tuple(d for d in range(DAYS) if d % 7 < 5)
WEAR_S = 30 * 60.0
DISCONNECT_DAY = 2
DISCONNECT_AT_S = 1200.0
DISCONNECT_LEN_S = 30.0


@dataclass(frozen=True)
class Month:
    data_dir: Path
    archive_path: Path
    user: str
    first_day: str
    last_day: str


def _script(day: int) -> tuple[ScriptedEpisode, ...]:
    progress = day / (DAYS - 1)  # 0 -> 1 over the month
    intensity = 1.3 - 0.7 * progress
    tau = 90.0 - 55.0 * progress
    eps = [ScriptedEpisode(start_s=480.0, plateau_s=120.0, recover_tau_s=tau, intensity=intensity)]
    if day % 2 == 0:
        eps.append(
            ScriptedEpisode(start_s=1140.0, plateau_s=90.0, recover_tau_s=tau, intensity=0.9 * intensity)
        )
    return tuple(eps)


async def _drive(archive: Archive) -> None:
    cfg = Config()
    for day in WEAR_DAYS:
        t0 = START + day * 86400.0
        session = new_session(cfg, archive, [], user=USER, device=DEVICE, seed=day, ignore_quiet_hours=True)
        gen = RRGenerator(seed=100 + day, episodes=_script(day))
        dropped = False
        for n in notifications(gen, duration_s=WEAR_S):
            if day == DISCONNECT_DAY and DISCONNECT_AT_S <= n.t_s < DISCONNECT_AT_S + DISCONNECT_LEN_S:
                if not dropped:
                    session.mark_disconnect(t0 + n.t_s)
                    dropped = True
                continue
            await session.handle(t0 + n.t_s, n.data)
        await session.finish()


def iso_week(t: float) -> tuple[str, float]:
    d = datetime.fromtimestamp(t, UTC)
    y, w, wd = d.isocalendar()
    monday = datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() - (wd - 1) * 86400.0
    return f"{y}-W{w:02d}", monday


def fill_weekly_progress(archive: Archive, user: str) -> None:
    """Test-only stand-in for storage.progress: one row per ISO week (UTC) from the archive's rows.

    hours_worn: sum of RR / 3.6e6; episodes by onset week, medians of amplitude, t50 and recovery;
    resting ln RMSSD: median (band: 25th-75th percentile) of ln RMSSD over valid 60 s windows that lie
    outside every episode, resting HR the median of their mean HR; prompts by send time, helped share =
    helped / prompts with a measured outcome.
    """
    q = archive.query
    weeks: dict[str, float] = {}
    hours: dict[str, float] = {}
    for t, rr in q("SELECT t, rr_ms FROM beats WHERE user = ?", (user,)):
        w, monday = iso_week(t)
        weeks[w] = monday
        hours[w] = hours.get(w, 0.0) + rr / 3.6e6
    eps = q("SELECT onset_t, end_t, amplitude, t50_s, recovery_s FROM episodes WHERE user = ?", (user,))
    prompts = q("SELECT t, helped FROM prompts WHERE user = ?", (user,))
    wins = q(
        "SELECT t, rmssd_ms, mean_hr_bpm FROM windows WHERE user = ? AND channel = '60s' AND valid = 1"
        " AND rmssd_ms > 0",
        (user,),
    )
    seq = max(
        r[0]
        for r in q("SELECT COALESCE(MAX(seq), 0) FROM beats UNION SELECT COALESCE(MAX(seq), 0) FROM prompts")
    )
    for w, monday in sorted(weeks.items(), key=lambda kv: kv[1]):
        in_w = [e for e in eps if iso_week(e[0])[0] == w]
        p_w = [p for p in prompts if iso_week(p[0])[0] == w]
        rest = [
            (math.log(r), hr)
            for t, r, hr in wins
            if iso_week(t)[0] == w and not any(e[0] <= t <= e[1] for e in eps)
        ]
        lr = sorted(x for x, _ in rest)
        measured = [p for p in p_w if p[1] is not None]
        helped = sum(1 for p in p_w if p[1])
        quart = statistics.quantiles(lr, n=4) if len(lr) >= 2 else [None, None, None]
        seq += 1
        archive.conn.execute(
            "INSERT OR REPLACE INTO weekly_progress (user, week, seq, week_start_t, hours_worn, episodes,"
            " episodes_per_hour, median_amplitude, median_t50_s, median_recovery_s, resting_ln_rmssd,"
            " resting_ln_rmssd_lo, resting_ln_rmssd_hi, resting_hr_bpm, prompts_sent, prompts_helped,"
            " helped_share) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                user,
                w,
                seq,
                monday,
                hours[w],
                len(in_w),
                len(in_w) / hours[w],
                statistics.median(e[2] for e in in_w) if in_w else None,
                statistics.median(e[3] for e in in_w) if in_w else None,
                statistics.median(e[4] for e in in_w) if in_w else None,
                statistics.median(lr) if lr else None,
                quart[0],
                quart[2],
                statistics.median(hr for _, hr in rest) if rest else None,
                len(p_w),
                helped,
                helped / len(measured) if measured else None,
            ),
        )


def refresh_or_fill(archive: Archive, user: str) -> str:
    """Fill weekly_progress the production way when available; returns which way was used."""
    if importlib.util.find_spec("storage.progress") is not None:
        importlib.import_module("storage.progress").refresh_weekly_progress(archive, user)
        archive.commit()
        return "storage.progress"
    fill_weekly_progress(archive, user)
    return "test fill"


@pytest.fixture(scope="session")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    """The simulated month's archive (built once per test session, about half a minute)."""
    data_dir = tmp_path_factory.mktemp("month")
    with Archive.in_dir(data_dir) as archive:
        asyncio.run(_drive(archive))
        archive.commit()
        refresh_or_fill(archive, USER)
        archive.commit()
        path = archive.path
    first = datetime.fromtimestamp(START, UTC).date().isoformat()
    last = datetime.fromtimestamp(START + WEAR_DAYS[-1] * 86400.0, UTC).date().isoformat()
    return Month(data_dir, path, USER, first, last)


@pytest.fixture(scope="session")
def month_archive(month: Month) -> Iterator[Archive]:
    archive = Archive(month.archive_path)
    yield archive
    archive.close()


LABEL = "client-A"
# words a wellness export must not use (ARCHITECTURE: no diagnosis words)
FORBIDDEN = ("diagnos", "disorder", "disease", "symptom", "patholog", "patient", "anxiety")
REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", *args], capture_output=True, text=True, env=env, timeout=300
    )


@dataclass(frozen=True)
class Exported:
    out: Path
    proc: subprocess.CompletedProcess[str]

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.out.glob(pattern))


@pytest.fixture(scope="session")
def exported(month: Month, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The month exported once through the CLI in every format, with a label instead of the user id."""
    out = tmp_path_factory.mktemp("export") / "for-therapist"
    proc = run_cli(
        "export",
        "--data-dir",
        str(month.data_dir),
        "--user",
        month.user,
        "--from",
        month.first_day,
        "--to",
        month.last_day,
        "--format",
        "all",
        "--out",
        str(out),
        "--label",
        LABEL,
    )
    assert proc.returncode == 0, proc.stderr
    return Exported(out, proc)
