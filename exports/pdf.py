"""The PDF progress report (matplotlib's PdfPages, A4 portrait), for a therapist to read in five minutes.

Pages, in order (:data:`PAGE_TITLES`): summary; weekly progress table with the direction of change;
arousal through selected days with episodes and prompts marked; resting baseline trend with its band;
episode amplitude and recovery by week; prompt outcomes by kind; what the numbers mean (plain language,
with the wellness note). The weekly table may run over several pages when the range is long.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot state). The summary's weekly block and the table are the archive's ``weekly_progress`` rows, printed as stored.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from exports.dataset import ExportData, Progress, WeekRow, iso_utc
from exports.files import Staging, safe_name
from processing.progress import iso_week_label

A4 = (8.27, 11.69)
TABLE_ROWS_PER_PAGE = 18
MAX_DAYS_PLOTTED = 4
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
    "Prompt outcomes by kind",
    "What the numbers mean",
)


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
    steady_within: float


def _f(decimals: int) -> Callable[[float], str]:
    return lambda x: f"{x:.{decimals}f}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


METRICS: tuple[Metric, ...] = (
    Metric("hours_worn", "Hours\nworn", _f(1), Better.NEITHER, 0.0),
    Metric("episodes_per_hour", "Episodes\nper hour", _f(2), Better.LOWER, 0.05),
    Metric("median_amplitude", "Median\namplitude", _f(1), Better.LOWER, 1.0),
    Metric("median_t50_s", "Median\nt50 (s)", _f(0), Better.LOWER, 5.0),
    Metric("resting_ln_rmssd", "Resting\nln RMSSD", _f(2), Better.HIGHER, 0.05),
    Metric("resting_hr_bpm", "Resting\nHR (bpm)", _f(1), Better.LOWER, 1.0),
    Metric("prompts_sent", "Prompts\nsent", _f(0), Better.NEITHER, 0.0),
    Metric("helped_share", "Share\nhelped", _pct, Better.HIGHER, 0.05),
)


def _val(w: WeekRow, attr: str) -> float | None:
    v = getattr(w, attr)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def direction(m: Metric, weeks: Sequence[WeekRow]) -> str:
    """Change from the first to the last week that has the number, with which way it went."""
    vals = [v for v in (_val(w, m.attr) for w in weeks) if v is not None]
    if len(vals) < 2:
        return "–"
    d = vals[-1] - vals[0]
    arrow = "↑" if d > 0 else "↓" if d < 0 else "→"
    if m.better is Better.NEITHER:
        return f"{arrow}"
    if abs(d) <= m.steady_within:
        return "→ steady"
    good = (d < 0) == (m.better is Better.LOWER)
    return f"{arrow} {'better' if good else 'worse'}"


def _cell(m: Metric, w: WeekRow) -> str:
    v = _val(w, m.attr)
    if v is None:
        return "–"
    if (
        m.attr == "resting_ln_rmssd"
        and w.resting_ln_rmssd_lo is not None
        and w.resting_ln_rmssd_hi is not None
    ):
        return f"{v:.2f}\n({w.resting_ln_rmssd_lo:.2f}–{w.resting_ln_rmssd_hi:.2f})"
    return m.fmt(v)


def _hhmm(hours: float, _pos: object = None) -> str:
    m = round(hours * 60)
    return f"{m // 60:02d}:{m % 60:02d}"


def _save(pdf: PdfPages, fig: Figure) -> None:
    pdf.savefig(fig)  # type: ignore[no-untyped-call]


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def _page(title: str, data: ExportData) -> Figure:
    fig = Figure(figsize=A4)
    fig.text(0.07, 0.955, title, fontsize=17, weight="bold")
    fig.text(
        0.07,
        0.03,
        f"calmstrap report for {data.range.name} · {_day(data.range.start_t)} to "
        f"{_day(data.range.end_t - 1)} (UTC) · wellness data, not a medical device",
        fontsize=7.5,
        color="0.4",
    )
    return fig


@dataclass(frozen=True, slots=True)
class Summary:
    """The numbers on the summary page (the weekly block is sums and ends of ``weekly_progress``)."""

    hours_in_range: float
    days_with_data: int
    beats: int
    artifact_pct: float
    valid_windows_pct: float
    gaps: int
    gap_minutes: float
    weeks: int
    weekly_hours_worn: float
    weekly_episodes: int
    weekly_prompts_sent: int
    weekly_prompts_helped: int


def summarize(data: ExportData) -> Summary:
    days: set[int] = set()
    art = 0
    for b in data.beats.values():
        days.update(np.unique(np.floor(b["t"] / 86400.0)).astype(int).tolist())
        art += int(b["artifact"].sum())
    fast = data.windows[data.windows["channel"] == "60s"]
    valid_pct = 100.0 * float(fast["valid"].mean()) if len(fast) else float("nan")
    return Summary(
        hours_in_range=data.hours_worn,
        days_with_data=len(days),
        beats=data.n_beats,
        artifact_pct=100.0 * art / max(1, data.n_beats),
        valid_windows_pct=valid_pct,
        gaps=len(data.gaps),
        gap_minutes=sum(g.end_t - g.start_t for g in data.gaps) / 60.0,
        weeks=len(data.weeks),
        weekly_hours_worn=sum(w.hours_worn or 0.0 for w in data.weeks),
        weekly_episodes=sum(w.episodes or 0 for w in data.weeks),
        weekly_prompts_sent=sum(w.prompts_sent or 0 for w in data.weeks),
        weekly_prompts_helped=sum(w.prompts_helped or 0 for w in data.weeks),
    )


def _first_last(weeks: Sequence[WeekRow], attr: str, fmt: str) -> str:
    vals = [(w.week, v) for w in weeks if (v := _val(w, attr)) is not None]
    if not vals:
        return "not available"
    if len(vals) == 1:
        return f"{vals[0][1]:{fmt}} ({vals[0][0]})"
    return f"{vals[0][1]:{fmt}} ({vals[0][0]}) → {vals[-1][1]:{fmt}} ({vals[-1][0]})"


def summary_page(pdf: PdfPages, data: ExportData) -> None:
    s = summarize(data)
    fig = _page(PAGE_TITLES[0], data)
    r = data.range
    weeks = data.weeks
    lines: list[tuple[str, str]] = [
        ("h", "calmstrap progress report"),
        ("", f"For: {r.name}"),
        ("", f"Range: {iso_utc(r.start_t)[:10]} to {iso_utc(r.end_t - 1)[:10]} (times in UTC)"),
        ("", f"Data from {iso_utc(data.first_t)[:16]} to {iso_utc(data.last_t)[:16]}"),
        ("", ""),
        ("h", "Data quality"),
        ("", f"Heartbeat data in the range: {s.hours_in_range:.1f} h on {s.days_with_data} days"),
        ("", f"Beats: {s.beats:,}; flagged as artifacts: {s.artifact_pct:.1f}%"),
        ("", f"Usable 60-second windows: {s.valid_windows_pct:.1f}%"),
        ("", f"Gaps in the data (strap off or out of range): {s.gaps}, {s.gap_minutes:.0f} min in total"),
        ("", ""),
        ("h", "Weekly progress"),
    ]
    if weeks:
        lines += [
            ("", f"Weeks: {s.weeks} ({weeks[0].week} to {weeks[-1].week})"),
            ("", f"Hours worn: {s.weekly_hours_worn:.1f}"),
            ("", f"Episodes: {s.weekly_episodes}"),
            ("", f"Prompts sent: {s.weekly_prompts_sent}; helped: {s.weekly_prompts_helped}"),
            ("", "Median episode amplitude (baseline SDs): " + _first_last(weeks, "median_amplitude", ".1f")),
            ("", "Median time to half-way down (s): " + _first_last(weeks, "median_t50_s", ".0f")),
            ("", "Resting ln RMSSD: " + _first_last(weeks, "resting_ln_rmssd", ".2f")),
            ("", "Resting heart rate (bpm): " + _first_last(weeks, "resting_hr_bpm", ".1f")),
        ]
    else:
        lines.append(("", "No weekly progress has been computed for these weeks yet."))
    y = 0.90
    for kind, text in lines:
        if kind == "h":
            fig.text(0.07, y, text, fontsize=13, weight="bold")
            y -= 0.032
        else:
            fig.text(0.09, y, text, fontsize=10.5)
            y -= 0.024
    y -= 0.02
    fig.text(0.07, y, "\n".join(textwrap.wrap(WELLNESS_NOTE, 95)), fontsize=9, style="italic", va="top")
    _save(pdf, fig)


def table_pages(pdf: PdfPages, data: ExportData) -> None:
    weeks = list(data.weeks)
    headings = ["Week", *(m.heading for m in METRICS)]
    chunks = [weeks[i : i + TABLE_ROWS_PER_PAGE] for i in range(0, len(weeks), TABLE_ROWS_PER_PAGE)] or [[]]
    for n, chunk in enumerate(chunks):
        title = PAGE_TITLES[1] + (f" ({n + 1}/{len(chunks)})" if len(chunks) > 1 else "")
        fig = _page(title, data)
        rows = [[w.week, *(_cell(m, w) for m in METRICS)] for w in chunk]
        last = n == len(chunks) - 1
        if last and weeks:
            rows.append(["Change", *(direction(m, weeks) for m in METRICS)])
        if rows:
            ax = fig.add_axes((0.04, 0.1, 0.92, 0.8))
            ax.axis("off")
            tab = ax.table(cellText=rows, colLabels=headings, loc="upper center", cellLoc="center")
            tab.auto_set_font_size(False)
            tab.set_fontsize(8)
            tab.scale(1.0, 2.6)
            for (r, _c), cell in tab.get_celld().items():
                if r == 0:
                    cell.set_text_props(weight="bold")
                    cell.set_facecolor("#e8eef4")
                    cell.set_height(cell.get_height() * 1.3)
                elif last and weeks and r == len(rows):
                    cell.set_facecolor("#f4f1e8")
        else:
            fig.text(0.07, 0.85, "No weekly progress has been computed for these weeks yet.", fontsize=11)
        if last:
            fig.text(
                0.07,
                0.07,
                "Change: first week to last week. Amplitude, t50, episodes per hour and resting HR are better "
                "when lower;\nresting ln RMSSD and the share of prompts that helped are better when higher. "
                "ln RMSSD shows the resting band in brackets.",
                fontsize=7.5,
            )
        _save(pdf, fig)


def select_days(data: ExportData) -> list[int]:
    """Up to four UTC days (day numbers since the epoch): first, last and those with the largest episodes."""
    t = data.arousal["t"]
    if len(t) == 0:
        return []
    days = np.unique(np.floor(t / 86400.0).astype("int64")).tolist()
    chosen = {days[0], days[-1]}
    by_amp = sorted(data.episodes, key=lambda e: -e.amplitude)
    for e in by_amp:
        if len(chosen) >= MAX_DAYS_PLOTTED:
            break
        d = int(e.onset_t // 86400)
        if d in days:
            chosen.add(d)
    return sorted(chosen)


def arousal_page(pdf: PdfPages, data: ExportData) -> None:
    fig = _page(PAGE_TITLES[2], data)
    days = select_days(data)
    if not days:
        fig.text(0.07, 0.85, "No arousal scores in this range.", fontsize=11)
    a = data.arousal
    helped = {p.id: p.helped for p in data.prompts}
    for i, d in enumerate(days):
        ax = fig.add_subplot(len(days), 1, i + 1)
        sel = (a["t"] >= d * 86400.0) & (a["t"] < (d + 1) * 86400.0)
        hours = (a["t"][sel] - d * 86400.0) / 3600.0
        ax.plot(hours, a["score"][sel], lw=0.8, color="#35608a", label="arousal score")
        for e in data.episodes:
            if d * 86400.0 <= e.onset_t < (d + 1) * 86400.0:
                ax.axvspan(
                    (e.onset_t - d * 86400) / 3600, (e.end_t - d * 86400) / 3600, color="#f2b134", alpha=0.3
                )
        for p in data.prompts:
            if d * 86400.0 <= p.t < (d + 1) * 86400.0:
                ok = helped.get(p.id)
                color = "#2a9d5c" if ok else "#c0392b" if ok is False else "0.5"
                ax.axvline((p.t - d * 86400) / 3600, color=color, lw=1.2, ls="--")
        ax.set_ylim(0, 100)
        ax.set_ylabel("score (0-100)")
        ax.set_title(
            datetime.fromtimestamp(d * 86400.0, UTC).strftime("%A %Y-%m-%d"), fontsize=10, loc="left"
        )
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(_hhmm))
        if len(hours):
            pad = 0.02 * max(0.5, float(hours.max() - hours.min()))
            ax.set_xlim(float(hours.min()) - pad, float(hours.max()) + pad)
    if days:
        fig.axes[-1].set_xlabel("time of day (UTC)")
        fig.text(
            0.07,
            0.065,
            "Shaded: arousal episodes. Dashed lines: prompts (green: arousal came down afterwards, red: it "
            "did not,\ngrey: no outcome measured). Days shown: the first, the last and those with the largest "
            "episodes.",
            fontsize=8,
        )
        fig.subplots_adjust(top=0.91, bottom=0.13, hspace=0.45, left=0.1, right=0.95)
    _save(pdf, fig)


def _week_axis(ax: Axes, labels: Sequence[str]) -> None:
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(
        labels, rotation=45 if len(labels) > 8 else 0, ha="right" if len(labels) > 8 else "center", fontsize=8
    )
    if len(labels) > 20:
        for i, lab in enumerate(ax.get_xticklabels()):
            lab.set_visible(i % max(1, len(labels) // 12) == 0)


def _series(weeks: Sequence[WeekRow], attr: str) -> np.ndarray:
    return np.array([np.nan if (v := _val(w, attr)) is None else v for w in weeks], dtype=float)


def baseline_page(pdf: PdfPages, data: ExportData) -> None:
    fig = _page(PAGE_TITLES[3], data)
    weeks = data.weeks
    labels = [w.week for w in weeks]
    x = np.arange(len(weeks))
    ax1 = fig.add_subplot(2, 1, 1)
    lr, lo, hi = (
        _series(weeks, a) for a in ("resting_ln_rmssd", "resting_ln_rmssd_lo", "resting_ln_rmssd_hi")
    )
    ax1.fill_between(x, lo, hi, color="#8fb8de", alpha=0.4, label="resting band")
    ax1.plot(x, lr, "o-", color="#35608a", label="resting ln RMSSD")
    ax1.set_ylabel("ln RMSSD (ln ms)")
    ax1.set_title("Resting ln RMSSD (higher is calmer)", fontsize=10, loc="left")
    ax1.legend(fontsize=8, loc="best")
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.plot(x, _series(weeks, "resting_hr_bpm"), "o-", color="#c0392b")
    ax2.set_ylabel("beats per minute")
    ax2.set_title("Resting heart rate (lower is calmer)", fontsize=10, loc="left")
    for ax in (ax1, ax2):
        _week_axis(ax, labels)
        ax.grid(alpha=0.3)
    fig.subplots_adjust(top=0.9, bottom=0.1, hspace=0.35, left=0.12, right=0.95)
    _save(pdf, fig)


def amplitude_page(pdf: PdfPages, data: ExportData) -> None:
    fig = _page(PAGE_TITLES[4], data)
    weeks = data.weeks
    labels = [w.week for w in weeks]
    pos = {w: i for i, w in enumerate(labels)}
    x = np.arange(len(weeks))
    ax1 = fig.add_subplot(2, 1, 1)
    ex = [pos[k] for e in data.episodes if (k := iso_week_label(e.onset_t)) in pos]
    ey = [e.amplitude_a for e in data.episodes if iso_week_label(e.onset_t) in pos]
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(ex))
    ax1.scatter(np.asarray(ex, dtype=float) + jitter, ey, s=10, color="#f2b134", label="one episode")
    ax1.plot(x, _series(weeks, "median_amplitude"), "o-", color="#35608a", label="weekly median")
    ax1.set_ylabel("baseline SDs")
    ax1.set_title("Episode amplitude (lower: smaller spikes)", fontsize=10, loc="left")
    ax1.legend(fontsize=8)
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.plot(
        x, _series(weeks, "median_t50_s") / 60.0, "o-", color="#2a9d5c", label="median time to half-way down"
    )
    ax2.plot(
        x,
        _series(weeks, "median_recovery_s") / 60.0,
        "s--",
        color="#7d5ba6",
        label="median time back to calm",
    )
    ax2.set_ylabel("minutes")
    ax2.set_title("Recovery after the peak (lower: passes more quickly)", fontsize=10, loc="left")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        _week_axis(ax, labels)
        ax.grid(alpha=0.3)
    fig.subplots_adjust(top=0.9, bottom=0.1, hspace=0.35, left=0.12, right=0.95)
    _save(pdf, fig)


def outcome_counts(data: ExportData) -> dict[str, Counter[str]]:
    """Per prompt kind: how many helped, did not, or have no measured outcome."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for p in data.prompts:
        out[p.kind]["helped" if p.helped else "did not help" if p.helped is False else "no outcome"] += 1
    return dict(sorted(out.items()))


def outcomes_page(pdf: PdfPages, data: ExportData) -> None:
    fig = _page(PAGE_TITLES[5], data)
    counts = outcome_counts(data)
    ax = fig.add_axes((0.2, 0.45, 0.72, 0.45))
    kinds = list(counts)
    left = np.zeros(len(kinds))
    for name, color in (("helped", "#2a9d5c"), ("did not help", "#c0392b"), ("no outcome", "0.7")):
        vals = np.array([counts[k][name] for k in kinds], dtype=float)
        ax.barh(kinds, vals, left=left, color=color, label=name)
        left += vals
    ax.set_xlabel("prompts")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    if not kinds:
        ax.text(0.5, 0.5, "No prompts in this range.", ha="center", transform=ax.transAxes)
    fig.text(
        0.07,
        0.38,
        "\n".join(
            textwrap.wrap(
                "A prompt counts as helped when, one to three minutes after it, ln RMSSD had risen by at least "
                "half of the person's usual resting spread and heart rate had fallen by 2 beats per minute or "
                "more, compared with the two minutes before it. Recovery messages at the end of an episode "
                "have no outcome measured.",
                100,
            )
        ),
        fontsize=8.5,
        va="top",
    )
    _save(pdf, fig)


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
        "t50 (time to half-way down)",
        "Seconds from an episode's peak until arousal had come half of the way back down. Shorter times "
        "mean spikes pass more quickly. Recovery is the time from the peak back to calm.",
    ),
    (
        "Episodes per hour worn",
        "Episodes divided by the hours the strap was worn, so weeks with more or less wear compare fairly.",
    ),
    (
        "Resting ln RMSSD and its band",
        "RMSSD is the beat-to-beat variation of the heart (in milliseconds); it is higher when the body is "
        "settled. We show its natural logarithm at rest (each day's calmest tenth of the minutes), averaged "
        "over 7 days, with a band of one standard deviation of those daily values either side. "
        "A rising line over the weeks means a calmer baseline.",
    ),
    (
        "Resting heart rate",
        "Beats per minute during calm, resting stretches. A lower resting heart rate also points to a "
        "calmer baseline, though sleep, caffeine, illness and exercise move it too.",
    ),
    (
        "Prompts and share helped",
        "Prompts are short body-based exercises (slow breathing, a sigh, orienting, grounding) sent when "
        "arousal stayed high. The share helped is the part of prompts after which arousal measurably came "
        "down within three minutes.",
    ),
    (
        "Data quality",
        "Hours of heartbeat data, beats flagged as artifacts (missed or extra beats), the share of "
        "one-minute windows clean enough to use, and gaps when the strap was off. Weeks with little data "
        "deserve less weight.",
    ),
)


def explanation_page(pdf: PdfPages, data: ExportData) -> None:
    fig = _page(PAGE_TITLES[6], data)
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
    _save(pdf, fig)


def file_name(name: str) -> str:
    return f"{safe_name(name)}_report.pdf"


def write(data: ExportData, stage: Staging, progress: Progress | None = None) -> int:
    steps = (
        summary_page,
        table_pages,
        arousal_page,
        baseline_page,
        amplitude_page,
        outcomes_page,
        explanation_page,
    )
    with stage.open_binary(file_name(data.range.name)) as f, PdfPages(f, metadata=_metadata(data)) as pdf:
        for i, step in enumerate(steps):
            step(pdf, data)
            if progress:
                progress("pdf", (i + 1) / len(steps))
    return 1


def _metadata(data: ExportData) -> dict[str, str]:
    return {
        "Title": f"calmstrap progress report: {data.range.name}",
        "Subject": "Arousal episodes, recovery and resting baseline by week (wellness data)",
        "Creator": "calmstrap",
    }
