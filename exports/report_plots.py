"""The report's plot pages: arousal through selected days, resting baseline, episode amplitude and recovery
by week, and prompt outcomes. Days and clock times are the person's own (``ExportRange.tz``)."""

from __future__ import annotations

import contextlib
import math
import textwrap
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.ticker import FuncFormatter, MaxNLocator

from alerts.catalog import by_id
from alerts.errors import CatalogError
from exports.dataset import ExportData
from exports.report_common import PAGE_TITLES, page, save, week_labels, zone
from exports.report_text import RECOVERY_KIND, value
from processing.effect import welch_difference
from processing.progress import WeekProgress, iso_week_label, local_date, local_midnight_t

MAX_DAYS_PLOTTED = 4
OUTCOMES = (("helped", "#2a9d5c"), ("did not help", "#c0392b"), ("no outcome yet", "0.7"))


def _hhmm(hours: float, _pos: object = None) -> str:
    m = round(hours * 60)
    return f"{m // 60:02d}:{m % 60:02d}"


def select_days(data: ExportData) -> list[date]:
    """Up to four local days: the first, the last and those with the largest episodes (baseline SDs)."""
    t = data.arousal["t"]
    if len(t) == 0:
        return []
    tz = data.range.tz
    days = sorted({local_date(float(t[0]), tz), local_date(float(t[-1]), tz)})
    have = {local_date(float(x), tz) for x in t[:: max(1, len(t) // 2000)].tolist()} | set(days)
    chosen = set(days)
    for e in sorted(data.episodes, key=lambda e: -e.amplitude_a):
        if len(chosen) >= MAX_DAYS_PLOTTED:
            break
        d = local_date(e.onset_t, tz)
        if d in have:
            chosen.add(d)
    return sorted(chosen)


def arousal_page(pdf: PdfPages, data: ExportData) -> None:
    fig = page(PAGE_TITLES[2], data)
    days = select_days(data)
    tz = data.range.tz
    if not days:
        fig.text(0.07, 0.85, "No arousal scores in this range.", fontsize=11)
    a = data.arousal
    for i, d in enumerate(days):
        ax = fig.add_subplot(max(len(days), 3), 1, i + 1)  # one day stays a strip, not the whole page
        t0 = local_midnight_t(d, tz)
        t1 = local_midnight_t(d + timedelta(days=1), tz)
        sel = (a["t"] >= t0) & (a["t"] < t1)
        hours = (a["t"][sel] - t0) / 3600.0
        ax.plot(hours, a["score"][sel], lw=0.8, color="#35608a", label="arousal score")
        for e in data.episodes:
            if t0 <= e.onset_t < t1:
                ax.axvspan((e.onset_t - t0) / 3600, (e.end_t - t0) / 3600, color="#f2b134", alpha=0.3)
        for p in data.prompts:
            if t0 <= p.t < t1 and p.kind != RECOVERY_KIND:
                ok = p.feedback_helped if p.feedback_helped is not None else p.helped
                color = "#2a9d5c" if ok else "#c0392b" if ok is False else "0.5"
                ax.axvline((p.t - t0) / 3600, color=color, lw=1.2, ls="--")
        ax.set_ylim(0, 100)
        ax.set_ylabel("score (0-100)")
        ax.set_title(f"{d:%A} {d.day} {d:%B %Y}", fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(_hhmm))
        if len(hours):
            pad = 0.02 * max(0.5, float(hours.max() - hours.min()))
            ax.set_xlim(float(hours.min()) - pad, float(hours.max()) + pad)
    if days:
        for ax in fig.axes:
            ax.set_xlabel(f"time of day ({zone(data)})", fontsize=8)
        fig.text(
            0.07,
            0.065,
            "Shaded: arousal episodes. Dashed lines: prompts (green: arousal came down afterwards, red: it "
            "did not,\ngrey: no outcome measured). Days shown: the first, the last and those with the largest "
            "episodes.",
            fontsize=8,
        )
        fig.subplots_adjust(top=0.91, bottom=0.13, hspace=0.45, left=0.1, right=0.95)
    save(pdf, fig)


def _week_axis(ax: Axes, labels: Sequence[str]) -> None:
    ax.set_xticks(range(len(labels)))
    tilt = len(labels) > 4
    ax.set_xticklabels(labels, rotation=30 if tilt else 0, ha="right" if tilt else "center", fontsize=8)
    if len(labels) > 16:
        for i, lab in enumerate(ax.get_xticklabels()):
            lab.set_visible(i % max(1, len(labels) // 12) == 0)
    if len(labels) == 1:
        ax.set_xlim(-0.5, 0.5)


def _series(weeks: Sequence[WeekProgress], attr: str) -> np.ndarray:
    return np.array([np.nan if (v := value(w, attr)) is None else v for w in weeks], dtype=float)


def baseline_page(pdf: PdfPages, data: ExportData) -> None:
    fig = page(PAGE_TITLES[3], data)
    weeks = data.weeks
    labels = week_labels(weeks)
    x = np.arange(len(weeks))
    ax1 = fig.add_subplot(2, 1, 1)
    lr, lo, hi = (
        _series(weeks, a) for a in ("resting_ln_rmssd", "resting_ln_rmssd_lo", "resting_ln_rmssd_hi")
    )
    ax1.fill_between(x, np.exp(lo), np.exp(hi), color="#8fb8de", alpha=0.4, label="resting band (± 1 SD)")
    ax1.plot(x, np.exp(lr), "o-", color="#35608a", label="resting RMSSD")
    ax1.set_ylabel("RMSSD (ms)")
    sec = ax1.secondary_yaxis("right", functions=(lambda v: np.log(np.maximum(v, 1e-9)), np.exp))
    sec.set_ylabel("ln RMSSD (ln ms)")
    ax1.set_title("Resting RMSSD (higher is calmer)", fontsize=10, loc="left")
    ax1.legend(fontsize=8, loc="best")
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.plot(x, _series(weeks, "resting_hr_bpm"), "o-", color="#c0392b")
    ax2.set_ylabel("beats per minute")
    ax2.set_title("Resting heart rate (lower is calmer)", fontsize=10, loc="left")
    for ax in (ax1, ax2):
        _week_axis(ax, labels)
        ax.grid(alpha=0.3)
    fig.subplots_adjust(top=0.9, bottom=0.14, hspace=0.45, left=0.12, right=0.88)
    save(pdf, fig)


def amplitude_page(pdf: PdfPages, data: ExportData) -> None:
    fig = page(PAGE_TITLES[4], data)
    weeks = data.weeks
    labels = week_labels(weeks)
    pos = {w.week: i for i, w in enumerate(weeks)}
    x = np.arange(len(weeks))
    tz = data.range.tz
    ax1 = fig.add_subplot(2, 1, 1)
    placed = [(pos[k], e.amplitude_a) for e in data.episodes if (k := iso_week_label(e.onset_t, tz)) in pos]
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(placed))
    ax1.scatter(
        np.asarray([p for p, _ in placed], dtype=float) + jitter,
        [a for _, a in placed],
        s=10,
        color="#f2b134",
        label="one episode",
    )
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
    fig.subplots_adjust(top=0.9, bottom=0.14, hspace=0.45, left=0.12, right=0.95)
    save(pdf, fig)


def effect_sentence(data: ExportData) -> str:
    """The effect of prompting on heart rate against the held-back moments, with its Welch 95 % interval."""
    nan = float("nan")
    held = [nan if c.d_hr_bpm is None else c.d_hr_bpm for c in data.controls if c.basis == "held back"]
    prompted = [nan if p.d_hr_bpm is None else p.d_hr_bpm for p in data.prompts if p.kind != RECOVERY_KIND]
    d = welch_difference(prompted, held)
    if not d.known:
        return (
            f"The effect of prompting is not estimated yet ({d.n_prompted} prompts with an outcome, "
            f"{d.n_control} moments held back; at least 2 of each are needed)."
        )
    return (
        f"Effect of prompting on heart rate (after a prompt minus after a moment held back): {d.diff:+.1f} "
        f"beats per minute, 95 % interval {d.ci_low:+.1f} to {d.ci_high:+.1f} ({d.n_prompted} prompts, "
        f"{d.n_control} held back)."
    )


def prompt_name(template_id: str, title: str, kind: str) -> str:
    """A prompt as the person saw it: the catalog's title, and its kind in words (``Let the wave pass
    (urge surfing)``)."""
    with contextlib.suppress(CatalogError):
        title = by_id(template_id).title
    words = kind.replace("_", " ")
    return title if words in title.lower() else f"{title} ({words})"


def outcome_counts(data: ExportData) -> dict[str, Counter[str]]:
    """Per prompt (catalog name): how many helped, did not, or have no outcome; settling messages left out."""
    out: dict[str, Counter[str]] = {}
    for p in data.prompts:
        if p.kind == RECOVERY_KIND:
            continue
        ok = p.feedback_helped if p.feedback_helped is not None else p.helped
        name = prompt_name(p.template_id, p.title, p.kind)
        out.setdefault(name, Counter())[
            OUTCOMES[0][0] if ok else OUTCOMES[1][0] if ok is False else OUTCOMES[2][0]
        ] += 1
    return dict(sorted(out.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])))


def outcomes_page(pdf: PdfPages, data: ExportData) -> None:
    fig = page(PAGE_TITLES[5], data)
    counts = outcome_counts(data)
    ax = fig.add_axes((0.34, 0.5, 0.6, 0.4))
    names = list(counts)
    left = np.zeros(len(names))
    for name, color in OUTCOMES:
        vals = np.array([counts[k][name] for k in names], dtype=float)
        if vals.any():
            ax.barh(names, vals, left=left, color=color, label=name)
        left += vals
    ax.set_xlabel("prompts")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x")
    if names:
        ax.legend(fontsize=8, loc="lower right")
        ax.set_xlim(0, max(1.0, math.ceil(float(left.max()) * 1.1)))
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "No prompts in this range.", ha="center", transform=ax.transAxes)
    fig.text(
        0.07,
        0.43,
        "\n".join(
            textwrap.wrap(
                "Two verdicts. A prompt 'came down after' when, one to three minutes after it, ln RMSSD had "
                "risen by at least half of the person's usual resting spread and heart rate had fallen by 2 "
                "beats per minute or more, compared with the two minutes before it; arousal near its peak "
                "falls by itself too, so this alone does not show the prompt helped. A prompt 'helped "
                "compared with the moments held back' when it came down after and did better than the moments "
                "at which calmstrap held a due prompt back at random and measured the same change (with fewer "
                "than five such moments, unprompted episode onsets count too). 'No outcome': nothing to "
                "compare with yet; the person's own answer, when given, counts instead. "
                + effect_sentence(data)
                + " The settling message sent when an episode is over asks for nothing, so it is not shown here.",
                100,
            )
        ),
        fontsize=8.5,
        va="top",
    )
    save(pdf, fig)
