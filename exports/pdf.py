"""The PDF progress report (matplotlib's PdfPages, A4 portrait), for a therapist to read in five minutes.

Pages, in order (:data:`PAGE_TITLES`): summary; weekly progress table with the direction of change;
arousal through selected days with episodes and prompts marked; resting baseline by week with its band;
episode amplitude and recovery by week; prompt outcomes; what the numbers mean (plain language, with the
wellness note). The weekly table may run over several pages when the range is long.

Every number is of the chosen range only; weeks are shown as their days (``5–11 Oct 2026``, ``(part)`` when
the range cuts the week) in the person's time zone. The pages live in :mod:`exports.report_text` and
:mod:`exports.report_plots`; figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot state).
"""

from __future__ import annotations

from matplotlib.backends.backend_pdf import PdfPages

from exports.dataset import ExportData, Progress
from exports.files import Staging, safe_name
from exports.report_common import PAGE_TITLES, WELLNESS_NOTE
from exports.report_plots import amplitude_page, arousal_page, baseline_page, outcome_counts, outcomes_page
from exports.report_text import (
    EXPLANATIONS,
    direction,
    explanation_page,
    summarize,
    summary_page,
    table_pages,
)

__all__ = [
    "EXPLANATIONS",
    "PAGE_TITLES",
    "WELLNESS_NOTE",
    "direction",
    "file_name",
    "outcome_counts",
    "summarize",
    "write",
]

STEPS = (
    summary_page,
    table_pages,
    arousal_page,
    baseline_page,
    amplitude_page,
    outcomes_page,
    explanation_page,
)


def file_name(name: str) -> str:
    return f"{safe_name(name)}_report.pdf"


def write(data: ExportData, stage: Staging, progress: Progress | None = None) -> int:
    with stage.open_binary(file_name(data.range.name)) as f, PdfPages(f, metadata=_metadata(data)) as pdf:
        for i, step in enumerate(STEPS):
            step(pdf, data)
            if progress:
                progress("pdf", (i + 1) / len(STEPS))
    return 1


def _metadata(data: ExportData) -> dict[str, str]:
    return {
        "Title": f"calmstrap progress report: {data.range.name}",
        "Subject": "Arousal episodes, recovery and resting baseline by week (wellness data)",
        "Creator": "calmstrap",
    }
