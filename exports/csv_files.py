"""CSV export: beats, windows, episodes, prompts with outcomes, weekly progress, and a README of every column.

The column tables below are the single source of both the CSV headers and ``README.txt``. Files are
comma-separated, UTF-8, one header line, ``\\n`` line ends; an empty field means "no value" (a feature the
window was too short for, a prompt without an outcome yet). Times are ISO 8601 UTC with milliseconds.
Window features are written with 6 significant digits, RR with 3 decimals; the small tables (episodes,
prompts, weekly progress) carry floats in their shortest exact form.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from exports.dataset import ExportData, Progress, iso_utc, iso_utc_array, zone_name
from exports.files import Staging, safe_name
from exports.kubios import RR_DECIMALS
from processing.effect import welch_difference

CHUNK_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    unit: str
    doc: str


@dataclass(frozen=True, slots=True)
class CsvFile:
    stem: str
    doc: str
    columns: tuple[Column, ...]


BEATS = CsvFile(
    "beats",
    "Every heartbeat interval (RR) the strap reported, in time order per device.",
    (
        Column("time_utc", "ISO 8601 UTC", "time of the R peak that ends this interval"),
        Column("device", "", "the strap that measured it"),
        Column("rr_ms", "ms", f"RR interval, {RR_DECIMALS} decimals (the strap's 1/1024 s ticks)"),
        Column(
            "artifact", "0/1", "1 when calmstrap flagged the interval as an artifact (missed or extra beat)"
        ),
    ),
)

WINDOWS = CsvFile(
    "windows",
    "HRV features over sliding windows: channel 60s (every 5 s) and 300s (every 30 s, full feature set).",
    (
        Column("time_utc", "ISO 8601 UTC", "end of the window"),
        Column("device", "", "the strap"),
        Column("channel", "", "60s (fast, for the arousal score) or 300s (slow, standard 5-minute HRV)"),
        Column("window_s", "s", "window length"),
        Column("n_beats", "count", "beats in the window"),
        Column("artifact_pct", "%", "share of beats corrected as artifacts"),
        Column("mean_rr_ms", "ms", "mean RR interval"),
        Column("mean_hr_bpm", "beats/min", "mean heart rate"),
        Column("sdnn_ms", "ms", "SDNN: standard deviation of RR intervals"),
        Column("rmssd_ms", "ms", "RMSSD: root mean square of successive RR differences"),
        Column("pnn50_pct", "%", "share of successive RR differences above 50 ms"),
        Column("lf_ms2", "ms^2", "low-frequency power (0.04-0.15 Hz)"),
        Column("hf_ms2", "ms^2", "high-frequency power (0.15-0.4 Hz, breathing band)"),
        Column("lf_hf", "ratio", "LF/HF power ratio"),
        Column("sd1_ms", "ms", "Poincare plot SD1 (short-term variability)"),
        Column("sd2_ms", "ms", "Poincare plot SD2 (longer-term variability)"),
        Column("dfa_a1", "", "detrended fluctuation analysis, short-term exponent alpha1"),
        Column("stress_index", "", "Baevsky stress index as its square root (√SI; not Kubios' stress index)"),
        Column(
            "resp_rate_bpm",
            "breaths/min",
            "breathing rate estimated from the heart-rate rhythm of breathing (RR spectrum)",
        ),
        Column("valid", "0/1", "1 when the window had enough clean beats to be used"),
    ),
)

EPISODES = CsvFile(
    "episodes",
    "Arousal episodes: arousal held high for a minute or more, from onset to back within the calm band.",
    (
        Column("id", "", "episode id"),
        Column("onset_utc", "ISO 8601 UTC", "when arousal started to rise"),
        Column("peak_utc", "ISO 8601 UTC", "when arousal was highest"),
        Column("end_utc", "ISO 8601 UTC", "when arousal was back within the calm band for two minutes"),
        Column(
            "peak_score",
            "score 0-100",
            "highest arousal score (50: the middle of the person's own baseline; calm below 69, high from 93)",
        ),
        Column("peak_a", "SD", "highest arousal in personal baseline standard deviations"),
        Column("amplitude", "score points", "peak score minus the mean score in the minute before onset"),
        Column("amplitude_a", "SD", "the same amplitude in personal baseline standard deviations"),
        Column("duration_s", "s", "onset to end"),
        Column("recovery_s", "s", "peak to end"),
        Column("t50_s", "s", "peak to half-way down (how quickly it passed)"),
        Column("area_a_s", "SD*s", "area of arousal above the calm band"),
        Column("prompt_ids", "", "prompts sent during the episode, separated by ';'"),
    ),
)

PROMPTS = CsvFile(
    "prompts",
    "Every prompt sent, and its measured outcome a few minutes later.",
    (
        Column("id", "", "prompt id"),
        Column("time_utc", "ISO 8601 UTC", "when it was sent"),
        Column("kind", "", "breathing, sigh, exhale, orienting, grounding, urge_surfing or recovery"),
        Column("template_id", "", "which catalog entry"),
        Column("title", "", "the prompt's title as the person saw it"),
        Column("duration_s", "s", "suggested length of the exercise"),
        Column("episode_id", "", "the episode it was sent for"),
        Column("reason_score", "score 0-100", "arousal score when it was sent"),
        Column("inhale_s", "s", "breathing pattern: inhale"),
        Column("hold_s", "s", "breathing pattern: hold"),
        Column("exhale_s", "s", "breathing pattern: exhale"),
        Column("delivered_via", "", "mqtt, console or none"),
        Column("outcome_utc", "ISO 8601 UTC", "when the outcome was measured"),
        Column(
            "d_ln_rmssd", "ln(ms)", "change in ln RMSSD, 1-3 min after versus 2 min before (up is calmer)"
        ),
        Column("d_hr_bpm", "beats/min", "change in heart rate, same windows (down is calmer)"),
        Column("d_score", "score points", "change in arousal score, same windows (down is calmer)"),
        Column(
            "helped",
            "0/1",
            "helped compared with the moments held back: 1 when arousal came down after (came_down) and the"
            " change in A beat the person's controls (see controls.csv; empty: nothing to compare with yet)",
        ),
        Column("feedback_helped", "0/1", "the person's own answer, when they gave one"),
        Column(
            "osc_freq_hz",
            "Hz",
            "paced-breathing prompts: frequency of the heart-rate oscillation while breathing along",
        ),
        Column("osc_amplitude_bpm", "beats/min", "paced-breathing prompts: its peak-to-trough amplitude"),
        Column(
            "osc_power_share",
            "0-1",
            "paced-breathing prompts: its share of all heart-rate variation (coherence-like)",
        ),
        Column("d_a", "baseline SD", "change in the arousal composite A, same windows (down is calmer)"),
        Column(
            "came_down",
            "0/1",
            "came down after: 1 when ln RMSSD rose by half a resting SD and heart rate fell by 2 bpm or more"
            " (arousal near a peak falls by itself too, so this alone does not show the prompt helped)",
        ),
        Column(
            "helped_basis",
            "",
            "what helped was judged against: controls (5 or more held back), matched stretches (fewer: also"
            " unprompted episode onsets), none yet",
        ),
        Column("n_reference", "count", "how many moments without a prompt it was compared with"),
    ),
)

CONTROLS = CsvFile(
    "controls",
    "Moments without a prompt, measured exactly like a prompt's outcome: held back (the policy would have"
    " prompted and held the prompt back at random) or matched stretch (an episode onset at which no prompt"
    " was allowed). The effect of prompting is the prompts' change minus these changes.",
    (
        Column("id", "", "control id"),
        Column("time_utc", "ISO 8601 UTC", "the moment"),
        Column("stage", "", "onset (an episode's first prompt decision) or escalation (its second)"),
        Column("basis", "", "held back or matched stretch"),
        Column("episode_id", "", "the episode"),
        Column("reason_score", "score 0-100", "arousal score at the moment"),
        Column("outcome_utc", "ISO 8601 UTC", "when the outcome was measured"),
        Column("d_ln_rmssd", "ln(ms)", "change in ln RMSSD, 1-3 min after versus 2 min before"),
        Column("d_hr_bpm", "beats/min", "change in heart rate, same windows"),
        Column("d_score", "score points", "change in arousal score, same windows"),
        Column("d_a", "baseline SD", "change in the arousal composite A, same windows"),
    ),
)

WEEKLY = CsvFile(
    "weekly_progress",
    "Per ISO week (Monday to Sunday, the person's local days): the numbers that show change over time, "
    "of the exported range only.",
    (
        Column("week", "ISO week", "e.g. 2026-W45"),
        Column(
            "first_day",
            "date",
            "first local day of the week in the range (the Monday, or the range's first day)",
        ),
        Column("last_day", "date", "last local day of the week in the range (inclusive)"),
        Column(
            "partial", "0/1", "1 when the range covers only part of the week: its numbers are of those days"
        ),
        Column("week_start_utc", "ISO 8601 UTC", "Monday 00:00 local time of the week"),
        Column("hours_worn", "h", "hours of heartbeat data"),
        Column("episodes", "count", "arousal episodes that started in the week"),
        Column("episodes_per_hour", "1/h", "episodes per hour worn"),
        Column(
            "median_amplitude",
            "baseline SD",
            "median episode amplitude in personal-baseline SDs (lower: smaller spikes)",
        ),
        Column("median_t50_s", "s", "median time from peak to half-way down (lower: passes more quickly)"),
        Column("median_recovery_s", "s", "median time from peak back to calm"),
        Column("resting_ln_rmssd", "ln(ms)", "resting ln RMSSD (higher: calmer baseline)"),
        Column(
            "resting_ln_rmssd_lo",
            "ln(ms)",
            "lower edge of the resting band: the 7-day mean of the daily resting values minus one SD of them",
        ),
        Column("resting_ln_rmssd_hi", "ln(ms)", "upper edge of the resting band: that mean plus one SD"),
        Column("resting_hr_bpm", "beats/min", "resting heart rate (lower: calmer baseline)"),
        Column("prompts_sent", "count", "prompts sent"),
        Column(
            "prompts_helped",
            "count",
            "prompts that helped (the person's own answer when given, else: helped compared with the"
            " moments held back)",
        ),
        Column("helped_share", "0-1", "prompts that helped / prompts with a verdict"),
    ),
)

FILES: tuple[CsvFile, ...] = (BEATS, WINDOWS, EPISODES, PROMPTS, CONTROLS, WEEKLY)


def _num(x: Any) -> str:
    """Small tables: integers as such, floats in their shortest exact form (they read back identical)."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(int(x))
    if isinstance(x, int):
        return str(x)
    f = float(x)
    return "" if f != f else repr(f)


def _floats(a: npt.NDArray[np.float64], fmt: str = ".6g") -> list[str]:
    return ["" if x != x else format(x, fmt) for x in a.tolist()]


def file_name(name: str, f: CsvFile) -> str:
    return f"{safe_name(name)}_{f.stem}.csv"


def effect_paragraph(data: ExportData) -> list[str]:
    """'Came down after' versus 'helped compared with the moments held back', and the effect of prompting."""
    nan = float("nan")
    held = [c for c in data.controls if c.basis == "held back"]
    measured = [p for p in data.prompts if p.kind != "recovery"]
    lines = [
        "Two verdicts per prompt. 'came_down' (came down after): heart rate and RMSSD moved towards calm in the",
        "1-3 minutes after the prompt; arousal near its peak falls by itself too, so this is not proof the",
        "prompt helped. 'helped' (helped compared with the moments held back): at some moments when a prompt",
        "was due, calmstrap held it back at random (controls.csv) and measured the same change; a prompt",
        "helped when it came down after and did better than those moments.",
    ]
    hr = welch_difference(
        [nan if p.d_hr_bpm is None else p.d_hr_bpm for p in measured],
        [nan if c.d_hr_bpm is None else c.d_hr_bpm for c in held],
    )
    lr = welch_difference(
        [nan if p.d_ln_rmssd is None else p.d_ln_rmssd for p in measured],
        [nan if c.d_ln_rmssd is None else c.d_ln_rmssd for c in held],
    )
    if hr.known and lr.known:
        lines.append(
            f"Effect of prompting in this range (after a prompt minus after a moment held back, Welch 95 % CI;"
            f" {hr.n_prompted} prompts, {hr.n_control} held back): heart rate {hr.diff:+.1f} bpm"
            f" ({hr.ci_low:+.1f} to {hr.ci_high:+.1f}), ln RMSSD {lr.diff:+.2f} ({lr.ci_low:+.2f} to {lr.ci_high:+.2f})."
        )
    else:
        lines.append(
            f"Effect of prompting: not estimated in this range ({hr.n_prompted} prompts with an outcome,"
            f" {hr.n_control} moments held back; at least 2 of each are needed)."
        )
    return lines


def readme(data: ExportData) -> str:
    r = data.range
    lines = [
        f"calmstrap CSV export for {r.name}",
        f"range: {iso_utc(r.start_t)} to {iso_utc(r.end_t)} (UTC; the person's days are in {zone_name(r.tz)})",
        "",
        "Comma-separated, UTF-8, one header line. An empty field means no value. Times are ISO 8601 UTC;",
        "days and weeks (weekly_progress) are the person's local days. Every row is of the range only.",
        "calmstrap is a wellness tool, not a medical device: these numbers describe the body's arousal and",
        "recovery; they are not a medical assessment.",
        "",
        *effect_paragraph(data),
        "",
    ]
    for f in FILES:
        lines += [file_name(r.name, f), f"  {f.doc}"]
        width = max(len(c.name) for c in f.columns)
        for c in f.columns:
            unit = f" [{c.unit}]" if c.unit else ""
            lines.append(f"  {c.name:<{width}}  {c.doc}{unit}")
        lines.append("")
    return "\n".join(lines)


def _write_chunks(
    out: IO[str],
    n: int,
    make: Callable[[int, int], Sequence[list[str]]],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``n`` rows, formatting :data:`CHUNK_ROWS` at a time (memory stays flat for millions of rows)."""
    for a in range(0, n, CHUNK_ROWS):
        z = min(n, a + CHUNK_ROWS)
        out.write("\n".join(",".join(row) for row in zip(*make(a, z), strict=True)))
        out.write("\n")
        if progress:
            progress(z)


def _header(out: IO[str], f: CsvFile) -> None:
    out.write(",".join(c.name for c in f.columns) + "\n")


def write_beats(data: ExportData, out: IO[str], progress: Callable[[int], None] | None = None) -> None:
    _header(out, BEATS)
    done = 0
    for dev in data.devices:
        b = data.beats[dev]

        def beat_cols(a: int, z: int, b: npt.NDArray[np.void] = b, dev: str = dev) -> list[list[str]]:
            return [
                iso_utc_array(b["t"][a:z]).tolist(),
                [dev] * (z - a),
                _floats(b["rr_ms"][a:z], f".{RR_DECIMALS}f"),
                [str(x) for x in b["artifact"][a:z].tolist()],
            ]

        def tick(k: int, d: int = done) -> None:
            if progress:
                progress(d + k)

        _write_chunks(out, len(b), beat_cols, tick)
        done += len(b)


def write_windows(data: ExportData, out: IO[str], progress: Callable[[int], None] | None = None) -> None:
    _header(out, WINDOWS)
    w = data.windows
    names = np.array(data.devices)

    def window_cols(a: int, z: int) -> list[list[str]]:
        c = w[a:z]
        cols = [iso_utc_array(c["t"]).tolist(), names[c["dev"]].tolist(), c["channel"].tolist()]
        for col in WINDOWS.columns[3:-1]:
            cols.append(_floats(c[col.name], ".0f" if col.name == "n_beats" else ".6g"))
        cols.append([str(x) for x in c["valid"].tolist()])
        return cols

    _write_chunks(out, len(w), window_cols, progress)


def write(data: ExportData, stage: Staging, progress: Progress | None = None) -> int:
    """Write the five CSV files and README.txt; returns how many files."""
    name = data.range.name
    total = max(1, data.n_beats + len(data.windows))

    def tick(rows: int) -> None:
        if progress:
            progress("csv", min(1.0, rows / total))

    with stage.open_text(file_name(name, BEATS)) as out:
        write_beats(data, out, tick)
    with stage.open_text(file_name(name, WINDOWS)) as out:
        write_windows(data, out, lambda k: tick(data.n_beats + k))
    with stage.open_text(file_name(name, EPISODES)) as out:
        wr = csv.writer(out, lineterminator="\n")
        wr.writerow([c.name for c in EPISODES.columns])
        for e in data.episodes:
            wr.writerow(
                [
                    e.id,
                    iso_utc(e.onset_t),
                    iso_utc(e.peak_t),
                    iso_utc(e.end_t),
                    *(
                        _num(x)
                        for x in (
                            e.peak_score,
                            e.peak_a,
                            e.amplitude,
                            e.amplitude_a,
                            e.duration_s,
                            e.recovery_s,
                            e.t50_s,
                            e.area_a_s,
                        )
                    ),
                    ";".join(e.prompt_ids),
                ]
            )
    with stage.open_text(file_name(name, PROMPTS)) as out:
        wr = csv.writer(out, lineterminator="\n")
        wr.writerow([c.name for c in PROMPTS.columns])
        for p in data.prompts:
            wr.writerow(
                [
                    p.id,
                    iso_utc(p.t),
                    p.kind,
                    p.template_id,
                    p.title,
                    _num(p.duration_s),
                    p.reason_episode_id or "",
                    _num(p.reason_score),
                    _num(p.inhale_s),
                    _num(p.hold_s),
                    _num(p.exhale_s),
                    p.delivered_via or "",
                    "" if p.outcome_t is None else iso_utc(p.outcome_t),
                    _num(p.d_ln_rmssd),
                    _num(p.d_hr_bpm),
                    _num(p.d_score),
                    _num(p.helped),
                    _num(p.feedback_helped),
                    _num(p.osc_freq_hz),
                    _num(p.osc_amplitude_bpm),
                    _num(p.osc_power_share),
                    _num(p.d_a),
                    _num(p.came_down),
                    p.helped_basis or "",
                    _num(p.n_reference),
                ]
            )
    with stage.open_text(file_name(name, CONTROLS)) as out:
        wr = csv.writer(out, lineterminator="\n")
        wr.writerow([c.name for c in CONTROLS.columns])
        for c in data.controls:
            wr.writerow(
                [
                    c.id,
                    iso_utc(c.t),
                    c.stage,
                    c.basis,
                    c.reason_episode_id or "",
                    _num(c.reason_score),
                    "" if c.outcome_t is None else iso_utc(c.outcome_t),
                    *(_num(x) for x in (c.d_ln_rmssd, c.d_hr_bpm, c.d_score, c.d_a)),
                ]
            )
    with stage.open_text(file_name(name, WEEKLY)) as out:
        wr = csv.writer(out, lineterminator="\n")
        wr.writerow([c.name for c in WEEKLY.columns])
        for wk in data.weeks:
            wr.writerow(
                [
                    wk.week,
                    "" if wk.first_day is None else wk.first_day.isoformat(),
                    "" if wk.last_day is None else wk.last_day.isoformat(),
                    _num(wk.partial),
                    iso_utc(wk.week_start_t),
                    *(
                        _num(x)
                        for x in (
                            wk.hours_worn,
                            wk.episodes,
                            wk.episodes_per_hour,
                            wk.median_amplitude,
                            wk.median_t50_s,
                            wk.median_recovery_s,
                            wk.resting_ln_rmssd,
                            wk.resting_ln_rmssd_lo,
                            wk.resting_ln_rmssd_hi,
                            wk.resting_hr_bpm,
                            wk.prompts_sent,
                            wk.prompts_helped,
                            wk.helped_share,
                        )
                    ),
                ]
            )
    with stage.open_text(f"{safe_name(name)}_csv_README.txt") as out:
        out.write(readme(data))
    if progress:
        progress("csv", 1.0)
    return len(FILES) + 1
