"""Prompt policy: when to prompt, which prompt, how often.

When: a prompt only at the onset of a sustained episode (arousal held high for the episode detector's
onset time, 60 s), then a per-user cooldown (15 min), a cap per hour (2), quiet hours (22:00-07:00 local)
and snooze; within one episode at most one escalation (a different prompt if arousal is still high
``escalate_after_s`` after the first; it skips the cooldown but not the hourly cap); a short recovery
message when an episode that had a prompt ends.

Which: learned per user by Thompson sampling over the catalog's prompt kinds. Each kind keeps a Beta
posterior of "helped"; a measured outcome (:class:`processing.outcomes.PromptOutcome`) counts once, an
explicit answer from the person ("helped" / "didn't") counts ``feedback_weight`` times. Every choice draws
one sample per kind and takes the largest; with probability ``explore`` a kind is drawn uniformly instead,
so no kind is starved by an unlucky start. All randomness comes from one ``random.Random(seed)``.

Controls (a within-person micro-randomised design, as in HeartSteps): at each moment the policy would
prompt -- an episode's onset, or its escalation -- the prompt is held back with probability
``control_probability`` (0.25; 0 turns controls off) and the moment is returned as a
:class:`processing.outcomes.ControlMoment` instead; its outcome is measured like a prompt's and is what
later prompts are compared with. The draw is a hash of the user and the episode id and stage (never the wall
clock or the policy's random stream), so a replay holds back the same moments. A held-back moment is not a
prompt: it uses no cooldown and no hourly cap, and an episode held back at its onset gets no escalation (the
person was not prompted in it). The learner learns from ``helped`` (better than the controls), never from
the raw change.
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from alerts.catalog import CATALOG, CHECK_IN_MESSAGES, RECOVERY_MESSAGES, Prompt, PromptKind, PromptTemplate
from processing.arousal import Arousal, ArousalState
from processing.episodes import Episode, EpisodeOnset
from processing.outcomes import ControlBasis, ControlMoment, PromptOutcome, Stage


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    cooldown_s: float = 900.0
    max_per_hour: int = 2
    escalate_after_s: float = 180.0
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    expiry_s: float = 120.0
    recovery_message: bool = True
    explore: float = 0.1
    """Probability of a uniformly random kind instead of the Thompson draw."""
    feedback_weight: float = 2.0
    """How many measured outcomes one explicit "helped" / "didn't" answer is worth."""
    prior_helped: float = 1.0
    prior_not_helped: float = 1.0
    disabled_kinds: frozenset[PromptKind] = frozenset()
    """Kinds the person switched off: never chosen (``recovery``: no recovery message)."""
    control_probability: float = 0.25
    """Probability of holding a prompt back as a control at each moment the policy would prompt."""
    hold_back_first: bool = False
    """Hold back the first moment of this policy's life whatever the draw (the demo: something to compare)."""


def held_back(user: str, key: str, probability: float) -> bool:
    """The control draw: a deterministic function of ``user`` and the moment's ``key`` (uniform in [0, 1))."""
    if probability <= 0.0:
        return False
    if probability >= 1.0:
        return True
    digest = hashlib.blake2b(f"{user}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < probability


def in_quiet_hours(t: float, start: time, end: time, tz: tzinfo | None = None) -> bool:
    """True when the local time of ``t`` is inside [start, end) (which may wrap midnight)."""
    if start == end:
        return False
    local = datetime.fromtimestamp(t, tz).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


@dataclass(slots=True)
class KindStats:
    """The Beta posterior of one prompt kind: pseudo-counts of helped and not helped."""

    helped: float
    not_helped: float

    @property
    def mean(self) -> float:
        return self.helped / (self.helped + self.not_helped)


@dataclass(slots=True)
class PromptLearner:
    """Thompson sampling over prompt kinds with uniform exploration (one per user)."""

    kinds: tuple[PromptKind, ...]
    rng: random.Random
    explore: float = 0.1
    prior_helped: float = 1.0
    prior_not_helped: float = 1.0
    stats: dict[PromptKind, KindStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k in self.kinds:
            self.stats.setdefault(k, KindStats(self.prior_helped, self.prior_not_helped))

    def choose(self, exclude: frozenset[PromptKind] = frozenset()) -> PromptKind:
        candidates = [k for k in self.kinds if k not in exclude] or list(self.kinds)
        if self.rng.random() < self.explore:
            return self.rng.choice(candidates)
        draws = [
            (self.rng.betavariate(self.stats[k].helped, self.stats[k].not_helped), k) for k in candidates
        ]
        return max(draws, key=lambda d: d[0])[1]

    def update(self, kind: PromptKind, helped: bool, weight: float = 1.0) -> None:
        st = self.stats.get(kind)
        if st is None:
            return
        if helped:
            st.helped += weight
        else:
            st.not_helped += weight


@dataclass(slots=True)
class _EpisodeState:
    episode_id: str
    first_prompt_t: float | None = None
    held_back: bool = False
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
    _learner: PromptLearner | None = None
    _kind_of: OrderedDict[str, PromptKind] = field(default_factory=OrderedDict)
    _answered: set[str] = field(default_factory=set)
    _last_arousal: Arousal | None = None
    suppressed: int = 0
    controls: int = 0
    """Moments held back as controls so far."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        c = self.config
        kinds = tuple(k for k in dict.fromkeys(t.kind for t in CATALOG) if k not in c.disabled_kinds)
        self._learner = PromptLearner(kinds, self._rng, c.explore, c.prior_helped, c.prior_not_helped)

    @property
    def learner(self) -> PromptLearner:
        assert self._learner is not None
        return self._learner

    @property
    def snooze_until(self) -> float:
        return self._snooze_until

    def snooze(self, t: float, minutes: float) -> None:
        self._snooze_until = max(self._snooze_until, t + 60.0 * minutes)

    def _silenced(self, t: float) -> bool:
        """Snoozed or in quiet hours: nothing is sent, not even an escalation or a recovery message."""
        c = self.config
        return t < self._snooze_until or in_quiet_hours(t, c.quiet_start, c.quiet_end, self.tz)

    def _allowed(self, t: float) -> bool:
        c = self.config
        if self._silenced(t):
            return False
        if self._sent and t - self._sent[-1] < c.cooldown_s:
            return False
        return sum(1 for s in self._sent if t - s < 3600.0) < c.max_per_hour

    def choose(self, exclude: str | None = None) -> PromptTemplate:
        """A template of the learner's kind (never the template ``exclude`` nor its kind)."""
        excluded = next((t for t in CATALOG if t.id == exclude), None)
        kind = self.learner.choose(frozenset({excluded.kind}) if excluded is not None else frozenset())
        options = [t for t in CATALOG if t.kind is kind and t.id != exclude]
        return options[self._rng.randrange(len(options))] if len(options) > 1 else options[0]

    def _remember(self, p: Prompt) -> None:
        self._kind_of[p.id] = p.kind
        while len(self._kind_of) > 512:
            old, _ = self._kind_of.popitem(last=False)
            self._answered.discard(old)

    def on_outcome(self, outcome: PromptOutcome) -> None:
        """A measured outcome of one of this policy's prompts: learn from it."""
        kind = self._kind_of.get(outcome.prompt_id)
        if kind is not None and outcome.helped is not None:
            self.learner.update(kind, outcome.helped, 1.0)

    def learn_from_history(self, rows: Iterable[tuple[str, bool | None, bool | None]]) -> int:
        """Warm-start the learner from earlier prompts: (kind, measured helped, feedback helped) each."""
        n = 0
        for kind_text, helped, feedback in rows:
            try:
                kind = PromptKind(kind_text)
            except ValueError:
                continue
            if helped is not None:
                self.learner.update(kind, bool(helped), 1.0)
                n += 1
            if feedback is not None:
                self.learner.update(kind, bool(feedback), self.config.feedback_weight)
                n += 1
        return n

    def on_feedback(self, prompt_id: str, helped: bool) -> bool:
        """The person's own answer about a prompt; False when the prompt is unknown or was answered."""
        kind = self._kind_of.get(prompt_id)
        if kind is None or prompt_id in self._answered:
            return False
        self._answered.add(prompt_id)
        self.learner.update(kind, helped, self.config.feedback_weight)
        return True

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

    def _hold_back(self, episode_id: str, stage: Stage) -> bool:
        if self.config.hold_back_first and self.controls == 0 and not self._sent:
            return True
        return held_back(self.user, f"{episode_id}/{stage}", self.config.control_probability)

    def _control(self, episode_id: str, stage: Stage, t: float, score: float | None) -> ControlMoment:
        self.controls += 1
        return ControlMoment(
            id=f"{episode_id}-{stage}-c",
            user=self.user,
            t=t,
            stage=stage,
            basis=ControlBasis.HELD_BACK,
            episode_id=episode_id,
            score=float("nan") if score is None else score,
        )

    def on_onset(self, onset: EpisodeOnset) -> Prompt | ControlMoment | None:
        """At an episode's onset: a prompt, a control (the prompt held back), or None (not allowed now)."""
        self._episode = _EpisodeState(onset.episode_id)
        t = onset.detected_t
        if not self.learner.kinds or not self._allowed(t):
            self.suppressed += 1
            return None
        if self._hold_back(onset.episode_id, Stage.ONSET):
            self._episode.held_back = True
            return self._control(onset.episode_id, Stage.ONSET, t, onset.score)
        # a rise that may be physical work (no motion data): ask, do not assume
        tpl = CHECK_IN_MESSAGES[0] if onset.exertion else self.choose()
        p = self._make(tpl, t, onset.episode_id, onset.score)
        self._remember(p)
        self._sent.append(t)
        self._episode.first_prompt_t = t
        self._episode.first_template = tpl.id
        self._episode.prompt_ids.append(p.id)
        return p

    def on_arousal(self, x: Arousal) -> Prompt | ControlMoment | None:
        """While an episode lasts: at most one escalation prompt (or its control)."""
        self._last_arousal = x
        ep = self._episode
        if ep is None or ep.first_prompt_t is None or ep.escalated:
            return None
        if x.state is not ArousalState.HIGH or x.t - ep.first_prompt_t < self.config.escalate_after_s:
            return None
        ep.escalated = True
        c = self.config
        if len(self.learner.kinds) < 2:  # nothing else to offer
            return None
        if self._silenced(x.t):
            return None
        if sum(1 for s in self._sent if x.t - s < 3600.0) >= c.max_per_hour:
            return None
        if self._hold_back(ep.episode_id, Stage.ESCALATION):
            return self._control(ep.episode_id, Stage.ESCALATION, x.t, x.score)
        tpl = self.choose(exclude=ep.first_template)
        p = self._make(tpl, x.t, ep.episode_id, x.score)
        self._remember(p)
        self._sent.append(x.t)
        ep.prompt_ids.append(p.id)
        return p

    def on_episode_end(self, episode: Episode, t: float) -> Prompt | None:
        ep = self._episode
        self._episode = None
        if ep is None or ep.episode_id != episode.id or not ep.prompt_ids or not self.config.recovery_message:
            return None
        c = self.config
        if PromptKind.RECOVERY in c.disabled_kinds:
            return None
        last = self._last_arousal
        if last is None or last.state is not ArousalState.CALM:
            return None  # only when arousal really came down (not an episode cut off by the end of a run)
        if self._silenced(t):
            return None
        return self._make(RECOVERY_MESSAGES[0], t, episode.id, episode.peak_score)

    def prompt_ids_for(self, episode_id: str) -> tuple[str, ...]:
        ep = self._episode
        return tuple(ep.prompt_ids) if ep is not None and ep.episode_id == episode_id else ()
