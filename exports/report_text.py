"""The report's text pages: the summary, the weekly table with the direction of change, what the numbers mean.

Every number is of the chosen range only (``ExportData``: rows in the range; weeks computed from them, a week
the range cuts is labelled "(part)").
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages

from exports.dataset import ExportData
from exports.report_common import (
    PAGE_TITLES,
    WELLNESS_NOTE,
    page,
    plural,
    range_label,
    save,
    week_label,
    when,
    zone,
)
from processing.progress import WeekProgress, local_date

TABLE_ROWS_PER_PAGE = 16
RECOVERY_KIND = "recovery"
"""The "settling" message at the end of an episode: not a prompt to do something, so never counted as one."""


class Better(Enum):
    LOWER = "lower"
    HIGHER = "higher"
    NEITHER = "neither"


@dataclass(frozen=True, slots=True)
class Metric:
    """One column of the weekly table: how to read it, format it, and which way is better."""

    attr: str
    heading: str
    fmt: Callable[[float], str]
    better: Better


def _f(decimals: int) -> Callable[[float], str]:
    return lambda x: f"{x:.{decimals}f}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _rmssd_ms(ln_ms: float) -> str:
    return f"{math.exp(ln_ms):.0f} ms"


METRICS: tuple[Metric, ...] = (
    Metric("hours_worn", "Hours\nworn", _f(1), Better.NEITHER),
    Metric("episodes_per_hour", "Episodes\nper hour", _f(2), Better.LOWER),
    Metric("median_amplitude", "Median\namplitude\n(SD)", _f(1), Better.LOWER),
    Metric("median_t50_s", "Median time\nto half-way\ndown (s)", _f(0), Better.LOWER),
    Metric("resting_ln_rmssd", "Resting\nRMSSD\n(ln ms)", _rmssd_ms, Better.HIGHER),
    Metric("resting_hr_bpm", "Resting\nHR (bpm)", _f(1), Better.LOWER),
    Metric("prompts_sent", "Prompts\nsent", _f(0), Better.NEITHER),
    Metric("helped_share", "Share\nhelped", _pct, Better.HIGHER),
)


def value(w: WeekProgress, attr: str) -> float | None:
    v = getattr(w, attr)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def direction(m: Metric, weeks: Sequence[WeekProgress]) -> str:
    """First to last week that has the number, compared as printed: ``→ same``, ``↑ better``, ``↓ worse``."""
    vals = [v for v in (value(w, m.attr) for w in weeks) if v is not None]
    if len(vals) < 2:
        return "–"
    first, last = m.fmt(vals[0]), m.fmt(vals[-1])
    if first == last:
        return "→ same"
    arrow = "↑" if vals[-1] > vals[0] else "↓"
    if m.better is Better.NEITHER:
        return f"{arrow} {'more' if vals[-1] > vals[0] else 'less'}"
    good = (vals[-1] < vals[0]) == (m.better is Better.LOWER)
    return f"{arrow} {'better' if good else 'worse'}"


def cell(m: Metric, w: WeekProgress) -> str:
    v = value(w, m.attr)
    if v is None:
        return "–"
    if m.attr == "resting_ln_rmssd":
        return f"{_rmssd_ms(v)}\n(ln {v:.2f})"
    return m.fmt(v)


@dataclass(frozen=True, slots=True)
class Summary:
    """The numbers on the summary page, all of the chosen range."""

    hours_in_range: float
    days_with_data: int
    beats: int
    artifact_pct: float
    valid_windows_pct: float
    gaps: int
    gap_minutes: float
    weeks: int
    partial_weeks: int
    episodes: int
    prompts_sent: int
    """Prompts that ask for something (breathing, orienting, ...): the "settling" messages are not counted."""
    settling_messages: int
    prompts_helped: int
    prompts_with_outcome: int


def summarize(data: ExportData) -> Summary:
    days: set[object] = set()
    art = 0
    for b in data.beats.values():
        # the first and last beat of every clock hour are enough to find every local day with data
        _, first = np.unique(np.floor(b["t"] / 3600.0), return_index=True)
        last = np.append(first[1:] - 1, len(b) - 1)
        for t in np.concatenate([b["t"][first], b["t"][last]]).tolist():
            days.add(local_date(t, data.range.tz))
        art += int(b["artifact"].sum())
    fast = data.windows[data.windows["channel"] == "60s"]
    valid_pct = 100.0 * float(fast["valid"].mean()) if len(fast) else float("nan")
    real = [p for p in data.prompts if p.kind != RECOVERY_KIND]
    answered = [
        p.feedback_helped if p.feedback_helped is not None else p.helped
        for p in real
        if p.feedback_helped is not None or p.helped is not None
    ]
    return Summary(
        hours_in_range=data.hours_worn,
        days_with_data=len(days),
        beats=data.n_beats,
        artifact_pct=100.0 * art / max(1, data.n_beats),
        valid_windows_pct=valid_pct,
        gaps=len(data.gaps),
        gap_minutes=sum(g.end_t - g.start_t for g in data.gaps) / 60.0,
        weeks=len(data.weeks),
        partial_weeks=sum(1 for w in data.weeks if w.partial),
        episodes=len(data.episodes),
        prompts_sent=len(real),
        settling_messages=len(data.prompts) - len(real),
        prompts_helped=sum(1 for h in answered if h),
        prompts_with_outcome=len(answered),
    )


def week_of(w: WeekProgress) -> str:
    """A short name for a week: ``week of 5 Oct`` (its first day in the range)."""
    d = w.first_day
    return "?" if d is None else f"week of {d.day} {d:%b}"


def first_last(weeks: Sequence[WeekProgress], attr: str, fmt: Callable[[float], str]) -> str:
    vals = [(week_of(w), v) for w in weeks if (v := value(w, attr)) is not None]
    if not vals:
        return "not available"
    if len(vals) == 1:
        return f"{fmt(vals[0][1])} ({vals[0][0]})"
    return f"{fmt(vals[0][1])} ({vals[0][0]}) → {fmt(vals[-1][1])} ({vals[-1][0]})"


def _rmssd_both(ln_ms: float) -> str:
    return f"{_rmssd_ms(ln_ms)} (ln {ln_ms:.2f})"


def effect_lines(data: ExportData) -> list[str]:
    """ "Effect compared with moments held back" (prompts vs. randomly withheld moments) for the summary:
    empty when the range holds neither prompts nor held-back moments."""
    from exports.report_plots import effect_sentence  # the outcome page's sentence, said once

    if not data.controls and not any(p.kind != RECOVERY_KIND for p in data.prompts):
        return []
    return [effect_sentence(data)]


def summary_page(pdf: PdfPages, data: ExportData) -> None:
    s = summarize(data)
    fig = page(PAGE_TITLES[0], data)
    r = data.range
    weeks = data.weeks
    settling = f" (and {plural(s.settling_messages, 'settling message')})" if s.settling_messages else ""
    lines: list[tuple[str, str]] = [
        ("h", "calmstrap progress report"),
        ("", f"For: {r.name}"),
        ("", f"Days: {range_label(data)} (times in {zone(data)})"),
        ("", f"Data from {when(data.first_t, data)} to {when(data.last_t, data)}"),
        ("", ""),
        ("h", "Data quality"),
        ("", f"Heartbeat data in the range: {s.hours_in_range:.1f} h on {plural(s.days_with_data, 'day')}"),
        ("", f"Beats: {s.beats:,}; flagged as artifacts: {s.artifact_pct:.1f}%"),
        ("", f"Usable 60-second windows: {s.valid_windows_pct:.1f}%"),
        (
            "",
            f"Gaps in the data (strap off or out of range): {s.gaps}, {s.gap_minutes:.0f} min in total",
        ),
        ("", ""),
        ("h", "In these days"),
        ("", f"Hours worn: {s.hours_in_range:.1f}"),
        ("", f"Episodes: {s.episodes}"),
        ("", f"Prompts sent: {s.prompts_sent}{settling}"),
        (
            "",
            f"Prompts that helped: {s.prompts_helped} of {s.prompts_with_outcome} with a known outcome",
        ),
        ("", ""),
        ("h", "Week by week"),
    ]
    if weeks:
        part = f", {s.partial_weeks} of them in part" if s.partial_weeks else ""
        span = (
            week_label(weeks[0]) if len(weeks) == 1 else f"{week_label(weeks[0])} to {week_label(weeks[-1])}"
        )
        lines += [
            ("", f"{plural(s.weeks, 'week')}{part if len(weeks) > 1 else ''}: {span}"),
            ("", "Median episode amplitude (baseline SDs): " + first_last(weeks, "median_amplitude", _f(1))),
            ("", "Median time to half-way down (s): " + first_last(weeks, "median_t50_s", _f(0))),
            ("", "Resting RMSSD: " + first_last(weeks, "resting_ln_rmssd", _rmssd_both)),
            ("", "Resting heart rate (bpm): " + first_last(weeks, "resting_hr_bpm", _f(1))),
        ]
    else:
        lines.append(("", "No week in this range has data."))
    effect = effect_lines(data)
    if effect:
        lines += [("", ""), ("h", "Effect compared with moments held back"), *(("", x) for x in effect)]
    y = 0.90
    for kind, text in lines:
        if kind == "h":
            fig.text(0.07, y, text, fontsize=13, weight="bold")
            y -= 0.032
        else:
            for part_line in textwrap.wrap(text, 100) or [""]:
                fig.text(0.09, y, part_line, fontsize=10.5)
                y -= 0.024
    y -= 0.02
    fig.text(0.07, y, "\n".join(textwrap.wrap(WELLNESS_NOTE, 95)), fontsize=9, style="italic", va="top")
    save(pdf, fig)


def table_pages(pdf: PdfPages, data: ExportData) -> None:
    weeks = list(data.weeks)
    headings = ["Week", *(m.heading for m in METRICS)]
    chunks = [weeks[i : i + TABLE_ROWS_PER_PAGE] for i in range(0, len(weeks), TABLE_ROWS_PER_PAGE)] or [[]]
    for n, chunk in enumerate(chunks):
        title = PAGE_TITLES[1] + (f" ({n + 1}/{len(chunks)})" if len(chunks) > 1 else "")
        fig = page(title, data)
        rows = [[week_label(w).replace(" (part)", "\n(part)"), *(cell(m, w) for m in METRICS)] for w in chunk]
        last = n == len(chunks) - 1
        if last and len(weeks) > 1:
            rows.append(["Change", *(direction(m, weeks) for m in METRICS)])
        if rows:
            ax = fig.add_axes((0.03, 0.12, 0.94, 0.78))
            ax.axis("off")
            tab = ax.table(
                cellText=rows,
                colLabels=headings,
                loc="upper center",
                cellLoc="center",
                colWidths=[0.17, *([0.83 / len(METRICS)] * len(METRICS))],
            )
            tab.auto_set_font_size(False)
            tab.set_fontsize(7.5)
            tab.scale(1.0, 2.8)
            for (r, _c), c in tab.get_celld().items():
                if r == 0:
                    c.set_text_props(weight="bold")
                    c.set_facecolor("#e8eef4")
                    c.set_height(c.get_height() * 1.6)
                elif last and len(weeks) > 1 and r == len(rows):
                    c.set_facecolor("#f4f1e8")
        else:
            fig.text(0.07, 0.85, "No week in this range has data.", fontsize=11)
        if last:
            fig.text(
                0.07,
                0.075,
                "Change: first week to last week, as printed. Amplitude, time to half-way down, episodes per "
                "hour and resting HR are\nbetter when lower; resting RMSSD and the share of prompts that "
                "helped are better when higher. RMSSD is shown in\nms with its natural logarithm (ln ms) "
                'below. "(part)": the chosen days cover only part of that week; its numbers are of\nthose '
                "days only.",
                fontsize=7.5,
            )
        save(pdf, fig)


EXPLANATIONS: tuple[tuple[str, str], ...] = (
    (
        "Arousal score (0-100)",
        "How activated the body is compared with this person's own baseline, from heart rate and heart "
        "rate variability (RMSSD) over the last minute. 50 is the middle of that baseline: half of their "
        "ordinary minutes score below it (hours of resting recordings score a median of 39-54). Higher means "
        "more activated; calm is below 69, high from 93. Time spent moving is marked active and is not read "
        "as arousal. It is personal: the same score means different heart rates for different people.",
    ),
    (
        "Episode",
        "A stretch where the arousal score stayed high for at least a minute. It starts when arousal began "
        "to climb and ends when it has been back in the calm band for two minutes.",
    ),
    (
        "Amplitude",
        "How far arousal rose in an episode, from the level in the minute before it started to its peak, "
        "measured in the person's own baseline standard deviations (SDs) of heart rate and HRV. The 0-100 "
        "score flattens out near 100, so the SD figure is the one that shows a spike getting smaller. "
        "Smaller amplitudes over the weeks mean smaller spikes.",
    ),
    (
        "Time to half-way down",
        "Seconds from an episode's peak until arousal had come half of the way back down (also called t50). "
        "Shorter times mean spikes pass more quickly. Recovery is the time from the peak back to calm.",
    ),
    (
        "Episodes per hour worn",
        "Episodes divided by the hours the strap was worn, so weeks with more or less wear compare fairly.",
    ),
    (
        "Resting RMSSD and its band",
        "RMSSD is the beat-to-beat variation of the heart, in milliseconds (ms); it is higher when the body "
        "is settled. The resting value is taken from each day's calmest minutes and averaged over seven "
        "days; its band is one standard deviation either side. The table also gives its natural logarithm "
        "(ln ms), the form research papers often use. A rising line over the weeks means a calmer baseline.",
    ),
    (
        "Resting heart rate",
        "Beats per minute during calm, resting stretches. A lower resting heart rate also points to a "
        "calmer baseline, though sleep, caffeine, illness and exercise move it too.",
    ),
    (
        "Prompts and share helped",
        "Prompts are short body-based exercises (slow breathing, a sigh, orienting, grounding) sent when "
        "arousal stayed high. The share helped is the part of prompts that helped compared with the moments "
        "held back (or that the person said helped): at some moments when a prompt was due, calmstrap held "
        "it back at random and measured what happened without it; a prompt helped when arousal came down "
        "after it more than at those moments. That arousal came down after a prompt is not enough on its "
        "own: arousal near its peak falls by itself too. The short settling message sent when an episode is "
        "over asks for nothing and is not counted as a prompt.",
    ),
    (
        "Data quality",
        "Hours of heartbeat data, beats flagged as artifacts (missed or extra beats), the share of "
        "one-minute windows clean enough to use, and gaps when the strap was off. Weeks with little data "
        "deserve less weight.",
    ),
)


def explanation_page(pdf: PdfPages, data: ExportData) -> None:
    fig = page(PAGE_TITLES[6], data)
    y = 0.91
    for head, body in EXPLANATIONS:
        fig.text(0.07, y, head, fontsize=10.5, weight="bold")
        wrapped = textwrap.wrap(body, 98)
        fig.text(0.07, y - 0.018, "\n".join(wrapped), fontsize=9, va="top")
        y -= 0.03 + 0.0155 * len(wrapped) + 0.012
    fig.text(0.07, y - 0.01, "Wellness note", fontsize=10.5, weight="bold")
    fig.text(
        0.07, y - 0.028, "\n".join(textwrap.wrap(WELLNESS_NOTE, 98)), fontsize=9, va="top", style="italic"
    )
    save(pdf, fig)
