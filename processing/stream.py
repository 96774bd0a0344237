"""Streaming processing for one strap: beats in, windows, arousal, episodes and prompt outcomes out.

Fast channel: every ``fast_step_s`` (5 s) a ``fast_window_s`` (60 s) window gives HR and ln RMSSD, the
arousal score and the episode detector's input. Slow channel: every ``slow_step_s`` (30 s) a
``slow_window_s`` (300 s) window gives the full feature set. Each window is artifact-corrected on its own
(range gate + Lipponen & Tarvainen); windows never span a gap (a gap empties the buffer).

Memory is bounded: beats live in two preallocated arrays (``capacity_beats``, enough for 300 s at
200 bpm), the baseline keeps at most one sample per 5 minutes over 28 days, the detectors keep a few
minutes of arousal samples.

Physical work and posture (see :class:`processing.arousal.ExerciseGate`): with the strap's accelerometer,
motion gates exercise (state ``active``) and a turn of the gravity vector by ``posture_change_deg`` (30°)
or more starts ``settle_s`` (2 minutes) of ``settling``; without it only sustained work far above the
person's own baseline is gated. Active, settling and exertion windows and episodes never teach the baseline.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from processing import artifacts
from processing.arousal import Arousal, ArousalScorer, ExerciseGate
from processing.baseline import BaselineTracker, UtcOffset
from processing.episodes import Episode, EpisodeDetector, EpisodeOnset
from processing.hrv import HrvWindow, window_of
from processing.outcomes import (
    ControlBasis,
    ControlMoment,
    ControlOutcome,
    PromptOutcome,
    Stage,
    hr_oscillation,
    measure_change,
    measure_outcome,
)
from processing.reduce import any_set
from sensors.beats import Beat, Gap


class Channel(StrEnum):
    FAST = "60s"
    SLOW = "300s"


@dataclass(frozen=True, slots=True)
class WindowResult:
    """An HRV window of one channel for one user and device."""

    user: str
    device: str
    channel: Channel
    window: HrvWindow


Output = WindowResult | Arousal | EpisodeOnset | Episode | PromptOutcome | ControlOutcome

MATCH_A_TOLERANCE = 1.0
"""A matched stretch is a reference for a prompt only when A at the two moments differs by at most this."""
REFERENCES_KEPT = 200
"""Reference changes kept per stage and kind (the newest; enough for the rank test, bounded memory)."""


@dataclass(frozen=True, slots=True)
class _Pending:
    """A moment whose outcome window is still open: a prompt, a held-back control or a candidate stretch."""

    id: str
    t: float
    stage: Stage
    paced_hz: float | None = None
    control: ControlMoment | None = None
    candidate: EpisodeOnset | None = None


@dataclass(slots=True)
class _References:
    """The changes of A after the controls of one stage: held back at random, and matched stretches."""

    controls_d_a: deque[float] = field(default_factory=lambda: deque(maxlen=REFERENCES_KEPT))
    matched: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=REFERENCES_KEPT))
    """(A at the moment, change of A) of each matched stretch."""

    def matched_near(self, a: float) -> list[float]:
        return [d for a0, d in self.matched if not math.isfinite(a) or abs(a0 - a) <= MATCH_A_TOLERANCE]


@dataclass(slots=True)
class StreamConfig:
    fast_window_s: float = 60.0
    fast_step_s: float = 5.0
    slow_window_s: float = 300.0
    slow_step_s: float = 30.0
    max_artifact_pct: float = 5.0
    min_beats: int = 20
    baseline_min_minutes: float = 30.0
    """Distinct (non-overlapping) minutes of ordinary windows before the baseline is personal."""
    baseline_sample_every_s: float = 300.0
    tau_s: float = 20.0
    elevated_a: float = 0.5
    high_a: float = 1.5
    outcome_after_s: float = 180.0
    paced_window_s: float = 90.0
    """Paced-breathing prompts: the HR oscillation is measured over this long after the prompt."""
    motion_active: float = 0.3
    """Motion intensity (0 still .. 1 vigorous, per second) at or above which a second counts as moving."""
    motion_stale_s: float = 10.0
    """Without a motion sample for this long, the RR-only exercise rules apply."""
    posture_change_deg: float = 30.0
    """A turn of the gravity vector (strap accelerometer) by this much is a posture change."""
    settle_s: float = 120.0
    """Settling time after a posture change: state ``settling``, no episode, no baseline sample."""
    utc_offset_s: UtcOffset = None
    """Hour of day of the baseline: None = the machine's local time zone; seconds, or a function of t."""
    capacity_beats: int = 1024


@dataclass(slots=True)
class StreamProcessor:
    user: str
    device: str
    config: StreamConfig = field(default_factory=StreamConfig)
    baseline: BaselineTracker = field(default_factory=BaselineTracker)
    _t: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    _rr: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    _lo: int = 0
    _hi: int = 0
    _last_t: float = math.nan
    _next_fast: float | None = None
    _next_slow: float | None = None
    _scorer: ArousalScorer = field(default_factory=ArousalScorer)
    _gate: ExerciseGate = field(default_factory=ExerciseGate)
    _episodes: EpisodeDetector | None = None
    _recent: deque[Arousal] = field(default_factory=lambda: deque(maxlen=64))
    _pending: list[_Pending] = field(default_factory=list)
    _references: dict[Stage, _References] = field(
        default_factory=lambda: {stage: _References() for stage in Stage}
    )
    _prompt_times: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    _motion_last_t: float = -math.inf
    _motion_active_until: float = -math.inf
    active_s: float = 0.0
    """Time judged physical work (state ``active``) so far, in fast-channel steps (seconds)."""
    _gravity_ref: tuple[float, float, float] | None = None
    _settle_until: float = -math.inf
    _flagged_t: deque[float] = field(default_factory=lambda: deque(maxlen=512))
    _classified_t: float = -math.inf

    def __post_init__(self) -> None:
        c = self.config
        self._scorer = ArousalScorer(tau_s=c.tau_s, elevated_a=c.elevated_a, high_a=c.high_a)
        self._episodes = EpisodeDetector(user=self.user, onset_a=c.high_a, end_a=c.elevated_a)
        self.baseline.min_minutes = c.baseline_min_minutes
        self.baseline.window_s = c.fast_window_s
        self.baseline.sample_every_s = c.baseline_sample_every_s
        self.baseline.utc_offset_s = c.utc_offset_s
        self._t = np.zeros(
            2 * c.capacity_beats
        )  # zeros: a snapshot holds the whole buffer, never stale memory
        self._rr = np.zeros(2 * c.capacity_beats)

    @property
    def episodes(self) -> EpisodeDetector:
        assert self._episodes is not None
        return self._episodes

    @property
    def last_t(self) -> float:
        """Time of the newest beat seen (NaN before the first)."""
        return self._last_t

    @property
    def nbytes(self) -> int:
        """Approximate memory of the per-strap state that grows with time (bytes)."""
        return int(
            self._t.nbytes + self._rr.nbytes + self.baseline.nbytes + 200 * len(self._recent) + 80 * 240
        )

    def note_prompt(
        self, prompt_id: str, t: float, *, paced_breath_hz: float | None = None, stage: Stage = Stage.ONSET
    ) -> None:
        """A prompt was sent at ``t``: its outcome will be emitted ``outcome_after_s`` later.

        ``paced_breath_hz`` (1 / breath cycle) marks a paced-breathing prompt: its outcome also tracks
        the HR oscillation at that frequency over the ``paced_window_s`` after the prompt. The outcome's
        ``helped`` compares it with the references of the same ``stage`` known by then.
        """
        self._prompt_times.append(t)
        self._pending.append(_Pending(prompt_id, t, stage, paced_hz=paced_breath_hz))

    def note_control(self, moment: ControlMoment) -> None:
        """A prompt was held back at random at ``moment.t``: its :class:`ControlOutcome` follows later."""
        self._prompt_times.append(moment.t)  # its window is no unprompted stretch either
        self._pending.append(_Pending(moment.id, moment.t, moment.stage, control=moment))

    def restore_reference(
        self, stage: Stage, basis: ControlBasis, d_a: float, a_at: float = math.nan
    ) -> None:
        """Put back one reference change measured before a restart (oldest first)."""
        refs = self._references[stage]
        if basis is ControlBasis.HELD_BACK:
            refs.controls_d_a.append(d_a)
        else:
            refs.matched.append((a_at, d_a))

    def reference_counts(self, stage: Stage = Stage.ONSET) -> tuple[int, int]:
        """How many (held-back controls, matched stretches) the verdicts of ``stage`` can use."""
        refs = self._references[stage]
        return len(refs.controls_d_a), len(refs.matched)

    def take_artifact_times(self) -> list[float]:
        """Times of the beats classified as artifacts since the last call (then forgotten).

        Each fast window runs the range gate and Lipponen & Tarvainen on its beats anyway; its verdict on
        the beats not yet classified up to its middle is kept, so every beat is classified once, with half a
        window (30 s) of context on either side, about half a window after it arrived (the last half window
        before a gap or the end of the stream is not classified). At most the newest 512 are kept: call it
        after every notification, as the pipeline does.
        """
        out = list(self._flagged_t)
        self._flagged_t.clear()
        return out

    def motion(self, t: float, intensity: float, gravity: tuple[float, float, float] | None = None) -> None:
        """One second of motion from the strap's accelerometer (0 still .. 1 vigorous); optional input.

        ``gravity``: the mean acceleration vector of that second (any unit; its direction is what counts).
        A turn of it by ``posture_change_deg`` from the last settled direction starts a settling period.
        """
        c = self.config
        self._motion_last_t = t
        if intensity >= c.motion_active:
            self._motion_active_until = t + c.fast_window_s
        if gravity is None:
            return
        norm = math.sqrt(sum(g * g for g in gravity))
        if not norm > 0:
            return
        g = (gravity[0] / norm, gravity[1] / norm, gravity[2] / norm)
        ref = self._gravity_ref
        if ref is None:
            self._gravity_ref = g
            return
        cos = max(-1.0, min(1.0, g[0] * ref[0] + g[1] * ref[1] + g[2] * ref[2]))
        if math.degrees(math.acos(cos)) >= c.posture_change_deg:
            self._settle_until = t + c.settle_s
            self._gravity_ref = g
        else:  # follow slow drift of the settled direction
            k = 0.05
            m = (ref[0] + k * (g[0] - ref[0]), ref[1] + k * (g[1] - ref[1]), ref[2] + k * (g[2] - ref[2]))
            n = math.sqrt(sum(v * v for v in m))
            self._gravity_ref = (m[0] / n, m[1] / n, m[2] / n)

    def _motion_state(self, t: float) -> bool | None:
        if t - self._motion_last_t > self.config.motion_stale_s:
            return None
        return t < self._motion_active_until

    def gap(self, gap: Gap) -> None:
        """A gap: windows never span it; smoothing and the exercise rules restart after it."""
        self._lo = self._hi = 0
        self._next_fast = None
        self._next_slow = None
        self._scorer.reset()
        self._gate.reset()

    def push(self, beat: Beat) -> list[Output]:
        t = beat.t
        hi = self._hi
        if hi == self._t.size:
            self._compact()
            hi = self._hi
        self._t[hi] = t
        self._rr[hi] = beat.rr_ms
        self._hi = hi + 1
        self._last_t = t
        if self._next_fast is None:
            self._next_fast = t + self.config.fast_window_s
            self._next_slow = t + self.config.slow_window_s
            return []
        if t < self._next_fast and (self._next_slow is None or t < self._next_slow):
            return []
        out: list[Output] = []
        if t >= self._next_fast:
            self._next_fast = t + self.config.fast_step_s
            out.extend(self._fast(t))
        assert self._next_slow is not None
        if t >= self._next_slow:
            self._next_slow = t + self.config.slow_step_s
            w = self._window(t, self.config.slow_window_s, full=True)
            if w is not None:
                out.append(WindowResult(self.user, self.device, Channel.SLOW, w[0]))
        return out

    def flush(self) -> list[Output]:
        return list(self.episodes.flush())

    def _compact(self) -> None:
        """Move the beats still inside the slow window to the front of the buffers."""
        cap = self.config.capacity_beats
        start = int(np.searchsorted(self._t[self._lo : self._hi], self._last_t - self.config.slow_window_s))
        lo = max(self._lo + start, self._hi - cap)
        n = self._hi - lo
        self._t[:n] = self._t[lo : self._hi]
        self._rr[:n] = self._rr[lo : self._hi]
        self._lo, self._hi = 0, n

    def _window(
        self, t: float, length_s: float, *, full: bool
    ) -> tuple[HrvWindow, npt.NDArray[np.float64]] | None:
        tv = self._t[self._lo : self._hi]
        start = self._lo + int(tv.searchsorted(t - length_s, side="right"))
        rr = self._rr[start : self._hi]
        if rr.size < self.config.min_beats:
            return None
        art = artifacts.detect(rr)
        if not full:
            self._note_artifacts(start, art.classes, t - 0.5 * length_s)
        clean = art.corrected_rr_ms
        if clean.size < 2:
            return None
        w = window_of(  # clean: detect's corrected series, positive, finite and in range
            clean,
            t=t,
            window_s=length_s,
            artifact_pct=art.artifact_pct,
            max_artifact_pct=self.config.max_artifact_pct,
            full=full,
        )
        return w, clean

    def _note_artifacts(self, start: int, classes: npt.NDArray[np.int8], mid_t: float) -> None:
        """Keep the times of the artifacts among the not yet classified beats up to the window's middle."""
        if not any_set(classes):  # the usual window: nothing flagged, nothing to look up
            self._classified_t = max(self._classified_t, mid_t)
            return
        tv = self._t[start : self._hi]
        a = int(tv.searchsorted(self._classified_t, side="right"))
        b = int(tv.searchsorted(mid_t, side="right"))
        if b > a:
            bad = a + np.flatnonzero(classes[a:b])
            if bad.size:
                self._flagged_t.extend(tv[bad].tolist())
        self._classified_t = max(self._classified_t, mid_t)

    def _fast(self, t: float) -> list[Output]:
        c = self.config
        got = self._window(t, c.fast_window_s, full=False)
        if got is None:
            return []
        w, _clean = got
        out: list[Output] = [WindowResult(self.user, self.device, Channel.FAST, w)]
        if not w.valid or not (w.rmssd_ms > 0):
            return out
        base = self.baseline.stats_for(t)
        warming = self.baseline.warming_up
        progress = self.baseline.progress
        motion = self._motion_state(t)
        own_hr = base.hr_bpm if base.source != "population" else None
        verdict = self._gate.update(t, hr_bpm=w.mean_hr_bpm, baseline_hr_bpm=own_hr, motion_active=motion)
        settling = t < self._settle_until and not verdict.active
        ar = self._scorer.update(
            t,
            w.mean_hr_bpm,
            w.rmssd_ms,
            base,
            warming_up=warming,
            gated=verdict.active,
            settling=settling,
            exertion=verdict.exertion,
            baseline_minutes=progress.collected_min,
            warmup_fraction=progress.fraction,
        )
        out.append(ar)
        self._recent.append(ar)
        if verdict.active:
            self.active_s += c.fast_step_s
        if not warming:
            for ev in self.episodes.update(ar):
                out.append(ev)
                if isinstance(ev, EpisodeOnset):  # a matched stretch, unless a prompt or control comes
                    self._pending.append(_Pending(ev.episode_id, ev.detected_t, Stage.ONSET, candidate=ev))
        ordinary = not (verdict.active or settling or verdict.exertion or motion is True)
        if ordinary and not self.episodes.active:
            self.baseline.add(w.mean_hr_bpm, w.ln_rmssd, t)
        if self._pending:
            self._pending = self._outcomes(t, base.ln_rmssd_sd, out)
        return out

    def _a_at(self, t: float) -> float:
        return next((x.a for x in reversed(self._recent) if x.t <= t), math.nan)

    def _outcomes(self, t: float, resting_sd: float, out: list[Output]) -> list[_Pending]:
        """Emit the outcomes that are due (controls before prompts); return the moments still waiting."""
        c = self.config
        still: list[_Pending] = []
        due: list[_Pending] = []
        for p in self._pending:
            (still if t < p.t + c.outcome_after_s else due).append(p)
        due.sort(key=lambda p: (p.control is None and p.candidate is None, p.t))
        samples = list(self._recent)
        for p in due:
            refs = self._references[p.stage]
            if p.control is not None or p.candidate is not None:
                moment = p.control
                if moment is None:
                    assert p.candidate is not None
                    if any(p.t - 120.0 <= pt <= p.t + c.outcome_after_s for pt in self._prompt_times):
                        continue  # a prompt or control came: not an unprompted stretch
                    ev = p.candidate
                    moment = ControlMoment(
                        f"{ev.episode_id}-m",
                        self.user,
                        ev.detected_t,
                        Stage.ONSET,
                        ControlBasis.MATCHED,
                        ev.episode_id,
                        ev.score,
                    )
                change = measure_change(p.t, samples, after_end_s=c.outcome_after_s)
                a_at = self._a_at(p.t)
                if change.complete:
                    if moment.basis is ControlBasis.HELD_BACK:
                        refs.controls_d_a.append(change.d_a)
                    else:
                        refs.matched.append((a_at, change.d_a))
                out.append(ControlOutcome(moment, p.t + c.outcome_after_s, change, a_at))
                continue
            osc = None
            if p.paced_hz is not None:
                tv = self._t[self._lo : self._hi]
                lo = self._lo + int(np.searchsorted(tv, p.t))
                hi = self._lo + int(np.searchsorted(tv, p.t + c.paced_window_s))
                seg = self._rr[lo:hi]
                seg = seg[(seg >= 300.0) & (seg <= 2000.0)]
                osc = hr_oscillation(seg, target_hz=p.paced_hz)
            out.append(
                measure_outcome(
                    p.id,
                    p.t,
                    samples,
                    resting_ln_rmssd_sd=resting_sd,
                    controls_d_a=refs.controls_d_a,
                    matched_d_a=refs.matched_near(self._a_at(p.t)),
                    after_end_s=c.outcome_after_s,
                    oscillation=osc,
                    stage=p.stage,
                )
            )
        return still
