"""What every page of the PDF report shares: the page frame, titles, words and the person's local time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from exports.dataset import ExportData, zone_name
from processing.progress import WeekProgress, day_span_label, local_date

A4 = (8.27, 11.69)
WELLNESS_NOTE = (
    "calmstrap is a wellness tool, not a medical device. These numbers describe how the body's arousal rose "
    "and settled as measured by a consumer chest strap; they are not a medical assessment and do not replace "
    "professional judgement."
)
PAGE_TITLES: tuple[str, ...] = (
    "Summary",
    "Weekly progress",
    "Arousal through selected days",
    "Resting baseline by week",
    "Episode amplitude and recovery by week",
    "Prompt outcomes",
    "What the numbers mean",
)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 week``, ``2 weeks``, ``0 episodes`` (``many`` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def first_day(data: ExportData) -> date:
    return local_date(data.range.start_t, data.range.tz)


def last_day(data: ExportData) -> date:
    return local_date(data.range.end_t - 1.0, data.range.tz)


def range_label(data: ExportData) -> str:
    """The chosen days in words, e.g. ``5 Oct–30 Oct 2026``."""
    return day_span_label(first_day(data), last_day(data))


def when(t: float, data: ExportData) -> str:
    """A moment in the person's time zone, e.g. ``Mon 5 Oct 2026, 09:00``."""
    d = datetime.fromtimestamp(t, data.range.tz)
    return f"{d:%a} {d.day} {d:%b %Y, %H:%M}"


def week_label(w: WeekProgress) -> str:
    """A week as its days, e.g. ``5–11 Oct 2026``, with ``(part)`` when the range covers only part of it."""
    return w.days_label + (" (part)" if w.partial else "")


def week_labels(weeks: Sequence[WeekProgress]) -> list[str]:
    return [week_label(w) for w in weeks]


def zone(data: ExportData) -> str:
    return zone_name(data.range.tz)


def save(pdf: PdfPages, fig: Figure) -> None:
    pdf.savefig(fig)  # type: ignore[no-untyped-call]


def page(title: str, data: ExportData) -> Figure:
    """An A4 page with its title and the footer naming the person, the days and the wellness note."""
    fig = Figure(figsize=A4)
    fig.text(0.07, 0.955, title, fontsize=17, weight="bold")
    fig.text(
        0.07,
        0.03,
        f"calmstrap report for {data.range.name} · {range_label(data)} (times in {zone(data)}) · "
        "wellness data, not a medical device",
        fontsize=7.5,
        color="0.4",
    )
    return fig
