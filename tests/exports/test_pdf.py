"""PDF report: pages render, the summary and table show the archive's weekly progress, plain words only."""

from __future__ import annotations

import math
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exports.pdf import EXPLANATIONS, PAGE_TITLES
from processing.progress import day_span_label
from storage.archive import Archive
from tests.exports.conftest import FORBIDDEN, LABEL, Exported, Month


def _pdf(exported: Exported) -> Path:
    return exported.out / f"{LABEL}_report.pdf"


def _text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    out = subprocess.run(
        ["pdftotext", "-layout", *pages, str(pdf), "-"], capture_output=True, text=True, check=True
    )
    return out.stdout


@pytest.fixture(scope="module")
def pngs(exported: Exported, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("png")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(_pdf(exported)), str(out / "page")], check=True)
    return sorted(out.glob("page*.png"))


def test_every_page_renders(pngs: list[Path]) -> None:
    """pdftoppm renders one non-empty PNG per page: summary, table, four plot pages, explanation."""
    assert len(pngs) == len(PAGE_TITLES) == 7
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.stat().st_size > 5000


def test_pages_in_order(exported: Exported) -> None:
    """Each page carries its title, in the documented order; at least four are plots."""
    for i, title in enumerate(PAGE_TITLES, 1):
        assert title in _text(_pdf(exported), i)
    plots = [t for t in PAGE_TITLES if t not in ("Summary", "Weekly progress", "What the numbers mean")]
    assert len(plots) >= 4


def _num(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    assert m, pattern
    return m.group(1)


def _label(first: date, last: date, partial: bool) -> str:
    return day_span_label(first, last) + (" (part)" if partial else "")


def _weeks(month_archive: Archive, month: Month) -> list[tuple[Any, ...]]:
    """The weekly_progress rows the sessions kept (whole weeks), with each week's label in the range."""
    rows = month_archive.query(
        "SELECT week_start_t, hours_worn, episodes_per_hour, median_amplitude, median_t50_s, resting_ln_rmssd,"
        " resting_hr_bpm, prompts_sent FROM weekly_progress WHERE user = ? ORDER BY week_start_t",
        (month.user,),
    )
    last_day = date.fromisoformat(month.last_day)
    out = []
    for r in rows:
        monday = datetime.fromtimestamp(r[0], UTC).date()
        sunday = monday + timedelta(days=6)
        short = f"week of {monday.day} {monday:%b}"
        out.append((_label(monday, min(sunday, last_day), sunday > last_day), short, *r[1:]))
    return out


def test_summary_numbers_equal_the_archive(exported: Exported, month_archive: Archive, month: Month) -> None:
    """The summary's counts are the range's archive rows; first and last week are the kept weekly rows."""
    text = _text(_pdf(exported), 1)
    q = month_archive.query
    beats, hours = q("SELECT COUNT(*), SUM(rr_ms) / 3.6e6 FROM beats WHERE user = ?", (month.user,))[0]
    episodes = q("SELECT COUNT(*) FROM episodes WHERE user = ?", (month.user,))[0][0]
    real = q("SELECT COUNT(*) FROM prompts WHERE user = ? AND kind != 'recovery'", (month.user,))[0][0]
    settling = q("SELECT COUNT(*) FROM prompts WHERE user = ? AND kind = 'recovery'", (month.user,))[0][0]
    assert _num(r"Beats: ([\d,]+)", text).replace(",", "") == str(beats)
    assert _num(r"Hours worn: ([\d.]+)", text) == f"{hours:.1f}"
    assert _num(r"Episodes: (\d+)", text) == str(episodes)
    assert f"Prompts sent: {real} (and {settling} settling messages)" in text
    weeks = _weeks(month_archive, month)
    assert f"{len(weeks)} weeks, 1 of them in part" in text
    (first, *_), last = weeks, weeks[-1]
    flat = " ".join(text.split())
    assert f"{first[4]:.1f} ({first[1]}) → {last[4]:.1f} ({last[1]})" in flat
    assert f"{first[5]:.0f} ({first[1]}) → {last[5]:.0f} ({last[1]})" in flat
    assert f"{math.exp(first[6]):.0f} ms (ln {first[6]:.2f}) ({first[1]})" in flat


def test_table_rows_equal_the_kept_weekly_progress(
    exported: Exported, month_archive: Archive, month: Month
) -> None:
    """Each week's row shows the numbers the service kept for it (the range covers whole weeks of wear)."""
    text = _text(_pdf(exported), 2)
    lines = text.splitlines()
    for label, _short, hours, per_h, amp, t50, ln_rmssd, hr, sent in _weeks(month_archive, month):
        head = label.replace(" (part)", "")
        line = next(x for x in lines if x.strip().startswith(head))
        expected = [
            f"{hours:.1f}",
            f"{per_h:.2f}",
            f"{amp:.1f}",
            f"{t50:.0f}",
            f"{math.exp(ln_rmssd):.0f}",
            "ms",
        ]
        assert line.split()[len(head.split()) : len(head.split()) + 6] == expected, line
        assert f"{hr:.1f}" in line.split() and str(sent) in line.split()
    change = next(x for x in lines if x.strip().startswith("Change"))
    assert re.search(r"better|worse|same", change)


def test_outcome_chart_leaves_out_settling_messages(exported: Exported) -> None:
    """The outcome page names prompts by their catalog titles and has no "Settling" (recovery) bar."""
    text = _text(_pdf(exported), 6)
    assert "Settling" not in text and "recovery" not in text.split("The settling")[0]
    assert re.search(r"Slow breathing|5-4-3-2-1|Physiological sigh|Feet on the floor|Longer out-breath", text)
    assert "urge_surfing" not in text


def test_explanation_page_and_wellness_note(exported: Exported) -> None:
    """The last page explains every number in plain words and carries the wellness note."""
    text = " ".join(_text(_pdf(exported), len(PAGE_TITLES)).split())
    for heading, _ in EXPLANATIONS:
        assert heading in text
    assert "not a medical device" in text


def test_no_diagnosis_words(exported: Exported) -> None:
    """No page uses diagnosis words."""
    text = _text(_pdf(exported)).lower()
    assert [w for w in FORBIDDEN if w in text] == []
