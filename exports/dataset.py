"""What an export reads from the archive: one user's data in a time range, loaded once for every format.

Beats, windows and arousal samples are numpy structured arrays (a year of wear is millions of rows);
episodes, prompts, gaps and weekly progress are lists of frozen dataclasses. Every time is epoch seconds
UTC. With a label the user id is replaced in every id that carries it (episode and prompt ids start with
the user id), so no file of the export names the user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import numpy as np
import numpy.typing as npt

from exports.errors import EmptyRange, UnknownUser
from processing.episodes import Episode
from processing.progress import WeekProgress
from storage.archive import WINDOW_FEATURES, Archive
from storage.progress import range_progress

Progress = Callable[[str, float], None]
"""Called with a stage name and the fraction of it done (0..1)."""


BEAT_DTYPE = np.dtype([("t", "f8"), ("rr_ms", "f8"), ("artifact", "i1")])
WINDOW_DTYPE = np.dtype(
    [
        ("t", "f8"),
        ("id", "i8"),
        ("dev", "i2"),
        ("channel", "U8"),
        ("window_s", "f8"),
        *((c, "f8") for c in WINDOW_FEATURES),
        ("valid", "i1"),
    ]
)
AROUSAL_DTYPE = np.dtype([("t", "f8"), ("score", "f8"), ("a", "f8"), ("state", "U8"), ("warming_up", "i1")])


def iso_utc(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC, rounded to the millisecond, e.g. ``2026-11-02T10:00:00.250Z``."""
    ms = round(t * 1000.0)
    d = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{d:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def iso_utc_array(t: npt.NDArray[np.float64]) -> npt.NDArray[np.str_]:
    """Vectorised :func:`iso_utc` (same text, millisecond resolution)."""
    ms = np.round(t * 1000.0).astype("int64").astype("datetime64[ms]")
    out: npt.NDArray[np.str_] = np.char.add(np.datetime_as_string(ms, unit="ms"), "Z")
    return out


def zone_name(tz: tzinfo | None) -> str:
    """A time zone as the files name it: ``America/New_York``, ``UTC``, or "local time" for the system's."""
    if tz is None:
        return "local time"
    key = getattr(tz, "key", None)
    if key and key != "localtime":
        return str(key)
    return datetime.now(tz).strftime("%Z") or "local time"


@dataclass(frozen=True, slots=True)
class ExportRange:
    """Whose data, which half-open span ``[start_t, end_t)``, and the name written into the files."""

    user: str
    start_t: float
    end_t: float
    label: str | None = None
    tz: tzinfo | None = None
    """The person's time zone: the report's days and weeks break at their local midnight (None: the system's)."""

    @property
    def name(self) -> str:
        """What the files call the person: the label when given, else the user id."""
        return self.label or self.user

    def relabel(self, text: str | None) -> str | None:
        """Replace the user id that starts an id (``alice-1700000000-1`` -> ``client-1700000000-1``)."""
        if text is None or not self.label:
            return text
        if text == self.user:
            return self.label
        if text.startswith(self.user + "-"):
            return self.label + text[len(self.user) :]
        return text


@dataclass(frozen=True, slots=True)
class GapRow:
    device: str
    start_t: float
    end_t: float
    reason: str


@dataclass(frozen=True, slots=True)
class PromptRow:
    id: str
    t: float
    kind: str
    template_id: str
    title: str
    duration_s: float
    reason_episode_id: str | None
    reason_score: float | None
    inhale_s: float | None
    hold_s: float | None
    exhale_s: float | None
    delivered_via: str | None
    outcome_t: float | None
    d_ln_rmssd: float | None
    d_hr_bpm: float | None
    d_score: float | None
    helped: bool | None
    feedback_helped: bool | None
    osc_freq_hz: float | None = None
    osc_amplitude_bpm: float | None = None
    osc_power_share: float | None = None
    d_a: float | None = None
    came_down: bool | None = None
    """The raw verdict: arousal came down after (ln RMSSD up, HR down); says nothing about the prompt alone."""
    helped_basis: str | None = None
    n_reference: int | None = None


@dataclass(frozen=True, slots=True)
class ControlRow:
    """One row of the archive's ``controls`` table: a moment without a prompt, measured like a prompt."""

    id: str
    t: float
    stage: str
    basis: str
    reason_episode_id: str | None
    reason_score: float | None
    outcome_t: float | None
    d_ln_rmssd: float | None
    d_hr_bpm: float | None
    d_score: float | None
    d_a: float | None


@dataclass(frozen=True)
class ExportData:
    """Everything one export writes."""

    range: ExportRange
    devices: tuple[str, ...]
    beats: dict[str, npt.NDArray[np.void]]
    """Per device, sorted by time (``BEAT_DTYPE``)."""
    gaps: tuple[GapRow, ...]
    windows: npt.NDArray[np.void]
    """``WINDOW_DTYPE``, in time order; ``dev`` indexes :attr:`devices`."""
    arousal: npt.NDArray[np.void]
    episodes: tuple[Episode, ...]
    """``user`` is the name written into the files (the label when given), ids relabelled alike."""
    prompts: tuple[PromptRow, ...]
    weeks: tuple[WeekProgress, ...]
    """Weekly numbers of the range only (``storage.progress.range_progress``); a cut week is ``partial``."""
    controls: tuple[ControlRow, ...] = ()
    """Moments held back as controls and matched unprompted stretches (never prompts)."""

    @property
    def n_beats(self) -> int:
        return sum(len(b) for b in self.beats.values())

    @property
    def hours_worn(self) -> float:
        """Sum of all RR intervals in the range, in hours."""
        return sum(float(b["rr_ms"].sum()) for b in self.beats.values()) / 3.6e6

    @property
    def first_t(self) -> float:
        return min(float(b["t"][0]) for b in self.beats.values())

    @property
    def last_t(self) -> float:
        return max(float(b["t"][-1]) for b in self.beats.values())


def _opt_bool(x: object) -> bool | None:
    return None if x is None else bool(x)


def _episode(rng: ExportRange, r: tuple[Any, ...]) -> Episode:
    """An ``episodes`` row (id, onset_t .. area_a_s, prompt_ids as JSON) as the Episode the files show."""
    ids = tuple(rng.relabel(p) or "" for p in json.loads(r[12]))
    return Episode(*(rng.relabel(r[0]) or "", rng.name, *r[1:12], ids))


def _prompt_args(rng: ExportRange, r: tuple[Any, ...]) -> tuple[Any, ...]:
    return (
        rng.relabel(r[0]) or "",
        *r[1:6],
        rng.relabel(r[6]),
        *r[7:16],
        _opt_bool(r[16]),
        _opt_bool(r[17]),
        *r[18:22],
        _opt_bool(r[22]),
        *r[23:25],
    )


def load(archive: Archive, rng: ExportRange, progress: Progress | None = None) -> ExportData:
    """Read one user's range; raises :class:`UnknownUser` or :class:`EmptyRange` before anything is written."""
    q = archive.iter_query
    if next(q("SELECT 1 FROM beats WHERE user = ? LIMIT 1", (rng.user,)), None) is None:
        raise UnknownUser(rng.user, tuple(archive.users()))
    span = (rng.user, rng.start_t, rng.end_t)
    devices = tuple(
        dev
        for dev in archive.devices(rng.user)
        if archive.query(
            "SELECT 1 FROM beats WHERE user = ? AND device = ? AND t >= ? AND t < ? LIMIT 1",
            (rng.user, dev, rng.start_t, rng.end_t),
        )
    )
    if not devices:
        raise EmptyRange(rng.user, iso_utc(rng.start_t), iso_utc(rng.end_t))
    beats: dict[str, npt.NDArray[np.void]] = {}
    for i, dev in enumerate(devices):
        cur = q(
            "SELECT t, rr_ms, artifact FROM beats WHERE user = ? AND device = ? AND t >= ? AND t < ?"
            " ORDER BY t",
            (rng.user, dev, rng.start_t, rng.end_t),
        )
        beats[dev] = np.fromiter(cur, dtype=BEAT_DTYPE)
        if progress:
            progress("read", 0.6 * (i + 1) / len(devices))
    gaps = tuple(
        GapRow(*r)
        for r in q(
            "SELECT device, start_t, end_t, reason FROM gaps WHERE user = ? AND end_t >= ? AND start_t < ?"
            " ORDER BY start_t",
            span,
        )
    )
    cols = ", ".join(WINDOW_FEATURES)
    parts = [
        np.fromiter(
            q(
                f"SELECT t, id, ?, channel, window_s, {cols}, valid FROM windows"
                " WHERE user = ? AND device = ? AND t >= ? AND t < ?",
                (i, rng.user, dev, rng.start_t, rng.end_t),
            ),
            dtype=WINDOW_DTYPE,
        )
        for i, dev in enumerate(devices)
    ]
    windows = np.concatenate(parts)
    windows = windows[np.lexsort((windows["id"], windows["t"]))]
    # SQLite NULL comes back as None: numpy turns it into nan for the float fields
    if progress:
        progress("read", 0.8)
    arousal = np.fromiter(
        q(
            "SELECT t, score, a, state, warming_up FROM arousal WHERE user = ? AND t >= ? AND t < ? ORDER BY t, id",
            span,
        ),
        dtype=AROUSAL_DTYPE,
    )
    episodes = tuple(
        _episode(rng, r)
        for r in q(
            "SELECT id, onset_t, peak_t, end_t, peak_score, peak_a, amplitude, amplitude_a, duration_s,"
            " recovery_s, t50_s, area_a_s, prompt_ids FROM episodes"
            " WHERE user = ? AND onset_t >= ? AND onset_t < ? ORDER BY onset_t",
            span,
        )
    )
    prompts = tuple(
        PromptRow(*_prompt_args(rng, r))
        for r in q(
            "SELECT id, t, kind, template_id, title, duration_s, reason_episode_id, reason_score, inhale_s,"
            " hold_s, exhale_s, delivered_via, outcome_t, d_ln_rmssd, d_hr_bpm, d_score, helped,"
            " feedback_helped, osc_freq_hz, osc_amplitude_bpm, osc_power_share, d_a, came_down, helped_basis,"
            " n_reference FROM prompts WHERE user = ? AND t >= ? AND t < ? ORDER BY t, id",
            span,
        )
    )
    controls = tuple(
        ControlRow(
            rng.relabel(r[0]) or "", r[1], r[2], r[3], rng.relabel(r[4]), r[5], r[6], r[7], r[8], r[9], r[10]
        )
        for r in q(
            "SELECT id, t, stage, basis, reason_episode_id, reason_score, outcome_t, d_ln_rmssd, d_hr_bpm,"
            " d_score, d_a FROM controls WHERE user = ? AND t >= ? AND t < ? ORDER BY t, id",
            span,
        )
    )
    # computed from the range's own rows, never the stored whole weeks: nothing outside the range counts
    weeks = tuple(range_progress(archive, rng.user, rng.start_t, rng.end_t, tz=rng.tz))
    if progress:
        progress("read", 1.0)
    return ExportData(
        range=rng,
        devices=devices,
        beats=beats,
        gaps=gaps,
        windows=windows,
        arousal=arousal,
        episodes=episodes,
        prompts=prompts,
        weeks=weeks,
        controls=controls,
    )
