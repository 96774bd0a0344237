"""Streaming processing for one strap: beats in, windows, arousal, episodes and prompt outcomes out.

Fast channel: every ``fast_step_s`` (5 s) a ``fast_window_s`` (60 s) window gives HR and ln RMSSD, the
arousal score and the episode detector's input. Slow channel: every ``slow_step_s`` (30 s) a
``slow_window_s`` (300 s) window gives the full feature set. Memory is bounded by the slow window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from processing import artifacts
from processing.arousal import Arousal, ArousalScorer, BaselineStats
from processing.baseline import BaselineTracker
from processing.episodes import Episode, EpisodeDetector, EpisodeOnset
from processing.hrv import HrvWindow, compute_window
from processing.outcomes import PromptOutcome, measure_outcome
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


Output = WindowResult | Arousal | EpisodeOnset | Episode | PromptOutcome


@dataclass(slots=True)
class StreamConfig:
    fast_window_s: float = 60.0
    fast_step_s: float = 5.0
    slow_window_s: float = 300.0
    slow_step_s: float = 30.0
    max_artifact_pct: float = 5.0
    min_beats: int = 20
    baseline_min_windows: int = 48
    tau_s: float = 20.0
    elevated_a: float = 0.5
    high_a: float = 1.5
    outcome_after_s: float = 180.0


@dataclass(slots=True)
class StreamProcessor:
    user: str
    device: str
    config: StreamConfig = field(default_factory=StreamConfig)
    baseline: BaselineTracker = field(default_factory=BaselineTracker)
    _beats: deque[tuple[float, float]] = field(default_factory=deque)
    _next_fast: float | None = None
    _next_slow: float | None = None
    _scorer: ArousalScorer = field(default_factory=ArousalScorer)
    _episodes: EpisodeDetector | None = None
    _recent: deque[Arousal] = field(default_factory=lambda: deque(maxlen=200))
    _pending_prompts: list[tuple[str, float]] = field(default_factory=list)
    _gap_until: float = -math.inf

    def __post_init__(self) -> None:
        c = self.config
        self._scorer = ArousalScorer(tau_s=c.tau_s, elevated_a=c.elevated_a, high_a=c.high_a)
        self._episodes = EpisodeDetector(user=self.user, onset_a=c.high_a, end_a=c.elevated_a)
        self.baseline.min_windows = c.baseline_min_windows

    @property
    def episodes(self) -> EpisodeDetector:
        assert self._episodes is not None
        return self._episodes

    @property
    def last_t(self) -> float:
        """Time of the newest beat seen (NaN before the first)."""
        return self._beats[-1][0] if self._beats else math.nan

    def note_prompt(self, prompt_id: str, t: float) -> None:
        """A prompt was sent at ``t``: its outcome will be emitted ``outcome_after_s`` later."""
        self._pending_prompts.append((prompt_id, t))

    def gap(self, gap: Gap) -> None:
        """A gap: windows never span it."""
        self._beats.clear()
        self._gap_until = gap.end_t

    def push(self, beat: Beat) -> list[Output]:
        self._beats.append((beat.t, beat.rr_ms))
        horizon = beat.t - self.config.slow_window_s
        while self._beats and self._beats[0][0] < horizon:
            self._beats.popleft()
        out: list[Output] = []
        if self._next_fast is None:
            self._next_fast = beat.t + self.config.fast_window_s
            self._next_slow = beat.t + self.config.slow_window_s
        if beat.t >= self._next_fast:
            self._next_fast = beat.t + self.config.fast_step_s
            out.extend(self._fast(beat.t))
        assert self._next_slow is not None
        if beat.t >= self._next_slow:
            self._next_slow = beat.t + self.config.slow_step_s
            w = self._window(beat.t, self.config.slow_window_s)
            if w is not None:
                out.append(WindowResult(self.user, self.device, Channel.SLOW, w))
        return out

    def flush(self) -> list[Output]:
        return list(self.episodes.flush())

    def _window(self, t: float, length_s: float) -> HrvWindow | None:
        start = t - length_s
        rr = np.fromiter((r for (bt, r) in self._beats if bt > start), dtype=np.float64)
        if rr.size < self.config.min_beats:
            return None
        art = artifacts.detect(rr)
        clean = art.corrected_rr_ms
        return compute_window(
            clean,
            t=t,
            window_s=length_s,
            artifact_pct=art.artifact_pct,
            max_artifact_pct=self.config.max_artifact_pct,
        )

    def _fast(self, t: float) -> list[Output]:
        w = self._window(t, self.config.fast_window_s)
        if w is None:
            return []
        out: list[Output] = [WindowResult(self.user, self.device, Channel.FAST, w)]
        if not w.valid or not (w.rmssd_ms > 0):
            return out
        base: BaselineStats = self.baseline.current
        warming = self.baseline.warming_up
        ar = self._scorer.update(t, w.mean_hr_bpm, w.rmssd_ms, base, warming_up=warming)
        out.append(ar)
        self._recent.append(ar)
        if not warming:
            out.extend(self.episodes.update(ar))
        if warming or (not self.episodes.active and ar.a < self.config.elevated_a):
            self.baseline.add(w.mean_hr_bpm, w.ln_rmssd)
        still: list[tuple[str, float]] = []
        for pid, pt in self._pending_prompts:
            if t >= pt + self.config.outcome_after_s:
                out.append(measure_outcome(pid, pt, list(self._recent), resting_ln_rmssd_sd=base.ln_rmssd_sd))
            else:
                still.append((pid, pt))
        self._pending_prompts = still
        return out
