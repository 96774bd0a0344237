"""Prompt policy: when to prompt, which prompt, how often.

First form: a prompt only at the onset of a sustained episode (arousal held high for the detector's onset
time), then a per-user cooldown, a cap per hour, quiet hours and snooze; within one episode at most one
escalation (a different prompt if arousal is still high some minutes after the first); a short recovery
message when an episode that had a prompt ends. Which prompt: rotate through the catalog's kinds
(learning from outcomes comes with the MQTT alert path).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from alerts.catalog import CATALOG, RECOVERY_MESSAGES, Prompt, PromptTemplate
from processing.arousal import Arousal, ArousalState
from processing.episodes import Episode, EpisodeOnset


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    cooldown_s: float = 900.0
    max_per_hour: int = 2
    escalate_after_s: float = 180.0
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    expiry_s: float = 120.0
    recovery_message: bool = True


def in_quiet_hours(t: float, start: time, end: time, tz: tzinfo | None = None) -> bool:
    """True when the local time of ``t`` is inside [start, end) (which may wrap midnight)."""
    if start == end:
        return False
    local = datetime.fromtimestamp(t, tz).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


@dataclass(slots=True)
class _EpisodeState:
    episode_id: str
    first_prompt_t: float | None = None
    first_template: str | None = None
    escalated: bool = False
    prompt_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PromptPolicy:
    user: str
    config: PolicyConfig = field(default_factory=PolicyConfig)
    tz: tzinfo | None = None
    seed: int = 0
    _sent: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    _snooze_until: float = 0.0
    _episode: _EpisodeState | None = None
    _counter: int = 0
    _rng: random.Random = field(default_factory=random.Random)
    _rotation: int = 0
    suppressed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def snooze(self, t: float, minutes: float) -> None:
        self._snooze_until = max(self._snooze_until, t + 60.0 * minutes)

    def _allowed(self, t: float) -> bool:
        c = self.config
        if t < self._snooze_until:
            return False
        if in_quiet_hours(t, c.quiet_start, c.quiet_end, self.tz):
            return False
        if self._sent and t - self._sent[-1] < c.cooldown_s:
            return False
        return sum(1 for s in self._sent if t - s < 3600.0) < c.max_per_hour

    def choose(self, exclude: str | None = None) -> PromptTemplate:
        choices = [p for p in CATALOG if p.id != exclude]
        pick = choices[self._rotation % len(choices)]
        self._rotation += 1
        return pick

    def _make(self, tpl: PromptTemplate, t: float, episode_id: str | None, score: float | None) -> Prompt:
        self._counter += 1
        when = datetime.fromtimestamp(t, self.tz) + timedelta(0)
        return Prompt(
            id=f"{self.user}-{when:%Y%m%dT%H%M%S}-{self._counter}",
            user=self.user,
            t=t,
            kind=tpl.kind,
            title=tpl.title,
            body=tpl.body,
            duration_s=tpl.duration_s,
            template_id=tpl.id,
            expires_t=t + self.config.expiry_s,
            reason_episode_id=episode_id,
            reason_score=score,
            inhale_s=tpl.inhale_s,
            hold_s=tpl.hold_s,
            exhale_s=tpl.exhale_s,
        )

    def on_onset(self, onset: EpisodeOnset) -> Prompt | None:
        self._episode = _EpisodeState(onset.episode_id)
        t = onset.detected_t
        if not self._allowed(t):
            self.suppressed += 1
            return None
        tpl = self.choose()
        p = self._make(tpl, t, onset.episode_id, onset.score)
        self._sent.append(t)
        self._episode.first_prompt_t = t
        self._episode.first_template = tpl.id
        self._episode.prompt_ids.append(p.id)
        return p

    def on_arousal(self, x: Arousal) -> Prompt | None:
        ep = self._episode
        if ep is None or ep.first_prompt_t is None or ep.escalated:
            return None
        if x.state is not ArousalState.HIGH or x.t - ep.first_prompt_t < self.config.escalate_after_s:
            return None
        ep.escalated = True
        c = self.config
        if x.t < self._snooze_until or in_quiet_hours(x.t, c.quiet_start, c.quiet_end, self.tz):
            return None
        if sum(1 for s in self._sent if x.t - s < 3600.0) >= c.max_per_hour:
            return None
        tpl = self.choose(exclude=ep.first_template)
        p = self._make(tpl, x.t, ep.episode_id, x.score)
        self._sent.append(x.t)
        ep.prompt_ids.append(p.id)
        return p

    def on_episode_end(self, episode: Episode, t: float) -> Prompt | None:
        ep = self._episode
        self._episode = None
        if ep is None or ep.episode_id != episode.id or not ep.prompt_ids or not self.config.recovery_message:
            return None
        c = self.config
        if in_quiet_hours(t, c.quiet_start, c.quiet_end, self.tz):
            return None
        return self._make(RECOVERY_MESSAGES[0], t, episode.id, episode.peak_score)

    def prompt_ids_for(self, episode_id: str) -> tuple[str, ...]:
        ep = self._episode
        return tuple(ep.prompt_ids) if ep is not None and ep.episode_id == episode_id else ()
