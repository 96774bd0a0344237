"""Range-true exports in the person's time zone: a night across New York midnight, exported one day at a time.

The archive is made by the real pipeline (accelerated, no sleeps) with ``timezone = "America/New_York"``:
2 h 20 min from 22:50 New York time on Monday 5 October 2026 to 01:10 on Tuesday 6 October, with scripted
episodes on both sides of midnight. Exported for 5 October only, every count in the CSVs, the PDF summary and
the FHIR bundle must equal what the archive holds between New York midnights, read back with the CSV reader
and pdftotext.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calmstrap.config import load_config
from calmstrap.pipeline import new_session
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from storage.archive import Archive

NY = ZoneInfo("America/New_York")
USER = "ny"
START = datetime(2026, 10, 5, 22, 50, tzinfo=NY).timestamp()
DURATION_S = 140 * 60.0
DAY1 = (datetime(2026, 10, 5, tzinfo=NY).timestamp(), datetime(2026, 10, 6, tzinfo=NY).timestamp())
REPO = Path(__file__).resolve().parents[2]
SCRIPT = (
    ScriptedEpisode(start_s=900.0, intensity=1.3),
    ScriptedEpisode(start_s=3000.0, intensity=1.1),
    ScriptedEpisode(start_s=5400.0, intensity=1.3),
    ScriptedEpisode(start_s=7200.0, intensity=1.0),
)


@dataclass(frozen=True)
class Night:
    data_dir: Path
    archive: Path


async def _drive(archive: Archive) -> None:
    cfg = load_config(None, env={"CALMSTRAP_GENERAL__TIMEZONE": "America/New_York"})
    session = new_session(cfg, archive, [], user=USER, device="sim-strap", seed=3, ignore_quiet_hours=True)
    for n in notifications(RRGenerator(seed=7, episodes=SCRIPT), duration_s=DURATION_S):
        await session.handle(START + n.t_s, n.data)
    await session.finish()


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    d = tmp_path_factory.mktemp("night")
    with Archive.in_dir(d) as archive:
        asyncio.run(_drive(archive))
        path = archive.path
    return Night(d, path)


def _cli(
    *args: str, tz: str = "America/New_York", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env.update(PYTHONPATH=str(REPO), CALMSTRAP_GENERAL__TIMEZONE=tz, CALMSTRAP_GENERAL__USER=USER)
    return subprocess.run(
        [sys.executable, "-m", "calmstrap", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=cwd,
    )


def _count(night: Night, sql: str) -> Any:
    with Archive(night.archive) as a:
        return a.query(sql, (USER, *DAY1))[0][0]


def _rows(p: Path) -> list[dict[str, str]]:
    with p.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _pdf_text(p: Path) -> str:
    out = subprocess.run(
        ["pdftotext", "-layout", "-f", "1", "-l", "1", str(p), "-"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def one_day(night: Night, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("oneday") / "out"
    proc = _cli(
        "export",
        "--data-dir",
        str(night.data_dir),
        "--from",
        "2026-10-05",
        "--to",
        "2026-10-05",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_the_night_has_episodes_and_prompts_on_both_sides_of_midnight(night: Night) -> None:
    """The archive really holds data of both New York days (so the one-day export has something to leave out)."""
    with Archive(night.archive) as a:
        before = a.query("SELECT COUNT(*) FROM episodes WHERE user = ? AND onset_t < ?", (USER, DAY1[1]))[0][
            0
        ]
        after = a.query("SELECT COUNT(*) FROM episodes WHERE user = ? AND onset_t >= ?", (USER, DAY1[1]))[0][
            0
        ]
        prompts_after = a.query("SELECT COUNT(*) FROM prompts WHERE user = ? AND t >= ?", (USER, DAY1[1]))[0][
            0
        ]
    assert before >= 1 and after >= 1 and prompts_after >= 1


def test_csv_counts_equal_the_archive_for_that_day(night: Night, one_day: Path) -> None:
    """beats, windows, episodes, prompts and the weekly row of the CSVs are the day's rows, no more."""
    beats = _count(night, "SELECT COUNT(*) FROM beats WHERE user = ? AND t >= ? AND t < ?")
    windows = _count(night, "SELECT COUNT(*) FROM windows WHERE user = ? AND t >= ? AND t < ?")
    episodes = _count(night, "SELECT COUNT(*) FROM episodes WHERE user = ? AND onset_t >= ? AND onset_t < ?")
    prompts = _count(night, "SELECT COUNT(*) FROM prompts WHERE user = ? AND t >= ? AND t < ?")
    real = _count(
        night, "SELECT COUNT(*) FROM prompts WHERE user = ? AND kind != 'recovery' AND t >= ? AND t < ?"
    )
    hours = _count(night, "SELECT SUM(rr_ms) / 3.6e6 FROM beats WHERE user = ? AND t >= ? AND t < ?")
    assert len(_rows(one_day / f"{USER}_beats.csv")) == beats
    assert len(_rows(one_day / f"{USER}_windows.csv")) == windows
    assert len(_rows(one_day / f"{USER}_episodes.csv")) == episodes
    assert len(_rows(one_day / f"{USER}_prompts.csv")) == prompts
    (week,) = _rows(one_day / f"{USER}_weekly_progress.csv")
    assert (week["first_day"], week["last_day"], week["partial"]) == ("2026-10-05", "2026-10-05", "1")
    assert int(week["episodes"]) == episodes and int(week["prompts_sent"]) == real
    assert float(week["hours_worn"]) == pytest.approx(hours, rel=1e-9)


def test_pdf_summary_equals_the_archive_for_that_day(night: Night, one_day: Path) -> None:
    """The PDF's summary (read with pdftotext) gives the day's hours, beats, episodes and prompts."""
    text = _pdf_text(one_day / f"{USER}_report.pdf")
    beats = _count(night, "SELECT COUNT(*) FROM beats WHERE user = ? AND t >= ? AND t < ?")
    episodes = _count(night, "SELECT COUNT(*) FROM episodes WHERE user = ? AND onset_t >= ? AND onset_t < ?")
    real = _count(
        night, "SELECT COUNT(*) FROM prompts WHERE user = ? AND kind != 'recovery' AND t >= ? AND t < ?"
    )
    hours = _count(night, "SELECT SUM(rr_ms) / 3.6e6 FROM beats WHERE user = ? AND t >= ? AND t < ?")
    assert re.search(r"Beats: ([\d,]+)", text).group(1).replace(",", "") == str(beats)  # type: ignore[union-attr]
    assert re.search(r"Episodes: (\d+)", text).group(1) == str(episodes)  # type: ignore[union-attr]
    assert re.search(r"Prompts sent: (\d+)", text).group(1) == str(real)  # type: ignore[union-attr]
    assert re.search(r"Hours worn: ([\d.]+)", text).group(1) == f"{hours:.1f}"  # type: ignore[union-attr]
    assert "on 1 day" in text and "1 week: 5 Oct 2026 (part)" in text
    assert "America/New_York" in text


def test_fhir_holds_the_days_episodes_and_one_daily_median(night: Night, one_day: Path) -> None:
    """FHIR: one episode Observation per episode of the day (with its SD amplitude) and daily medians for it."""
    b = json.loads((one_day / f"{USER}_fhir.json").read_text(encoding="utf-8"))
    obs = [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"]
    eps = [o for o in obs if o["code"]["coding"][0]["code"] == "arousal-episode"]
    episodes = _count(night, "SELECT COUNT(*) FROM episodes WHERE user = ? AND onset_t >= ? AND onset_t < ?")
    assert len(eps) == episodes
    for o in eps:
        assert "episode-amplitude-sd" in {c["code"]["coding"][0]["code"] for c in o["component"]}
    hr = [o for o in obs if o["code"]["coding"][0]["code"] == "8867-4"]
    assert len(hr) == 1 and "2026-10-05 (America/New_York)" in hr[0]["note"][0]["text"]


def test_report_days_break_at_new_york_midnight(night: Night, tmp_path: Path) -> None:
    """The whole night is 2 days in New York and 1 day in UTC (all of it falls on 6 October UTC)."""
    ny = _cli("export", "--data-dir", str(night.data_dir), "--format", "pdf", "--out", str(tmp_path / "ny"))
    utc = _cli(
        "export",
        "--data-dir",
        str(night.data_dir),
        "--format",
        "pdf",
        "--out",
        str(tmp_path / "utc"),
        tz="UTC",
    )
    assert ny.returncode == 0 and utc.returncode == 0, ny.stderr + utc.stderr
    assert "on 2 days" in _pdf_text(tmp_path / "ny" / f"{USER}_report.pdf")
    assert "on 1 day" in _pdf_text(tmp_path / "utc" / f"{USER}_report.pdf")


def test_export_without_arguments_writes_everything_into_a_new_folder(night: Night, tmp_path: Path) -> None:
    """`calmstrap export` alone: the configured user, all data, ./calmstrap-export-<user>-<date>/ (a new one)."""
    first = _cli("export", "--data-dir", str(night.data_dir), cwd=tmp_path)
    second = _cli("export", "--data-dir", str(night.data_dir), cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    today = datetime.now(NY).date().isoformat()
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == [f"calmstrap-export-{USER}-{today}", f"calmstrap-export-{USER}-{today}-2"]
    beats = _rows(tmp_path / folders[0] / f"{USER}_beats.csv")
    with Archive(night.archive) as a:
        assert len(beats) == a.query("SELECT COUNT(*) FROM beats WHERE user = ?", (USER,))[0][0]
