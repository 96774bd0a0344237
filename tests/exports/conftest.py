"""A simulated month in a real archive, made by driving the real pipeline (no sleeps, accelerated time).

Four weeks from Monday 2026-10-05 (ISO weeks 2026-W41 to W44), weekdays only (20 days of wear, weekends
off), 30 minutes a day from 09:00 UTC, one scripted arousal episode a day and a second one every other day. Over the weeks the episodes get smaller
and pass more quickly, as the product promises. Day 3 has a disconnect (30 s without notifications, the
session told of the drop), so the archive holds one DISCONNECT gap inside a day's recording.

Weekly progress: the sessions keep the ``weekly_progress`` table current themselves (as each episode ends and
when a session finishes); the export computes its own weekly numbers from the range's rows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calmstrap.config import Config, GeneralConfig
from calmstrap.pipeline import new_session
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from storage.archive import Archive

USER = "alice_7f3c"
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
    cfg = Config(general=GeneralConfig(timezone="UTC"))
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


@pytest.fixture(scope="session")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    """The simulated month's archive (built once per test session, about half a minute)."""
    data_dir = tmp_path_factory.mktemp("month")
    with Archive.in_dir(data_dir) as archive:
        asyncio.run(_drive(archive))
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


LABEL = "client_a"
# words a wellness export must not use (ARCHITECTURE: no diagnosis words)
FORBIDDEN = ("diagnos", "disorder", "disease", "symptom", "patholog", "patient", "anxiety")
REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CALMSTRAP_GENERAL__TIMEZONE": "UTC"}
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
