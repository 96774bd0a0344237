"""PDF report: pages render, the summary and table show the archive's weekly progress, plain words only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from exports.pdf import EXPLANATIONS, PAGE_TITLES
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


def test_summary_numbers_equal_weekly_progress(
    exported: Exported, month_archive: Archive, month: Month
) -> None:
    """The summary's weekly block equals the sums and first/last weeks of the archive's weekly_progress."""
    text = _text(_pdf(exported), 1)
    rows = month_archive.query(
        "SELECT week, hours_worn, episodes, prompts_sent, prompts_helped, median_amplitude, median_t50_s,"
        " resting_ln_rmssd, resting_hr_bpm FROM weekly_progress WHERE user = ? ORDER BY week_start_t",
        (month.user,),
    )
    assert _num(r"Weeks: (\d+)", text) == str(len(rows))
    assert _num(r"Hours worn: ([\d.]+)", text) == f"{sum(r[1] for r in rows):.1f}"
    assert _num(r"Episodes: (\d+)", text) == str(sum(r[2] for r in rows))
    assert _num(r"Prompts sent: (\d+)", text) == str(sum(r[3] for r in rows))
    assert _num(r"helped: (\d+)", text) == str(sum(r[4] for r in rows))
    first, last = rows[0], rows[-1]
    assert f"{first[5]:.1f} ({first[0]}) → {last[5]:.1f} ({last[0]})" in text
    assert f"{first[6]:.0f} ({first[0]}) → {last[6]:.0f} ({last[0]})" in text
    assert f"{first[7]:.2f} ({first[0]}) → {last[7]:.2f} ({last[0]})" in text
    beats = month_archive.query("SELECT COUNT(*) FROM beats WHERE user = ?", (month.user,))[0][0]
    assert _num(r"Beats: ([\d,]+)", text).replace(",", "") == str(beats)


def test_table_rows_equal_weekly_progress(exported: Exported, month_archive: Archive, month: Month) -> None:
    """Each week's row on the table page shows its stored numbers, and a change row closes the table."""
    text = _text(_pdf(exported), 2)
    rows = month_archive.query(
        "SELECT week, hours_worn, episodes_per_hour, median_amplitude, median_t50_s, resting_ln_rmssd,"
        " resting_hr_bpm, prompts_sent FROM weekly_progress WHERE user = ? ORDER BY week_start_t",
        (month.user,),
    )
    formats = (".1f", ".2f", ".1f", ".0f", ".2f", ".1f", "d")
    lines = text.splitlines()
    for week, *values in rows:
        line = next(x for x in lines if x.strip().startswith(week))
        expected = ["–" if v is None else format(v, f) for v, f in zip(values, formats, strict=True)]
        assert line.split()[1:8] == expected
    change = next(x for x in lines if x.strip().startswith("Change"))
    assert re.search(r"better|worse|steady", change)


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
