"""The live side of the page: a notifier beside MQTT that keeps what the page shows and fans events out.

:class:`LiveHub` is an :class:`alerts.notify.Notifier` (``name`` ``"page"``, a side channel: it gets every
prompt, whatever the other notifiers do). It keeps, per user, the latest state, today's arousal samples
(one every ``sample_every_s``), episodes, recent prompts and the practice in progress, and hands each
change to every open page as a :class:`PageEvent` (server-sent events, :mod:`web.app`). Subscribers are
async iterators over a bounded queue, unregistered in ``finally``; a page too slow to keep up loses its
oldest events, never blocks the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from alerts.catalog import Prompt, PromptKind
from alerts.notify import StrapStatus
from processing.arousal import Arousal
from processing.episodes import Episode, EpisodeOnset
from web.words import STOP_IF_WORSE, WARMING_UP_LINE, words_for

PAGE_SCHEMA = "calmstrap.page/1"
SUBSCRIBER_QUEUE = 256
PROMPTS_KEPT = 50
DAY_S = 86400.0


class EventName(StrEnum):
    SNAPSHOT = "snapshot"
    STATE = "state"
    PROMPT = "prompt"
    EPISODE = "episode"
    PRACTICE = "practice"
    ANSWER = "answer"
    BYE = "bye"


@dataclass(frozen=True, slots=True)
class PageEvent:
    name: EventName
    user: str
    data: str
    """The event's JSON document."""

    def sse(self) -> bytes:
        return f"event: {self.name.value}\ndata: {self.data}\n\n".encode()


def _num(x: float | None, nd: int = 1) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def state_doc(user: str, x: Arousal, strap: StrapStatus | None) -> dict[str, Any]:
    w = words_for(x.state.value)
    return {
        "user": user,
        "t": x.t,
        "state": x.state.value,
        "word": w.word,
        "line": WARMING_UP_LINE if x.warming_up else w.line,
        "hr_bpm": _num(x.hr_bpm),
        "level": _num(x.score, 0),
        "warming_up": x.warming_up,
        "connected": None if strap is None else strap.connected,
        "battery_pct": None if strap is None else _num(strap.battery_pct, 0),
    }


def prompt_doc(p: Prompt, link: str | None = None) -> dict[str, Any]:
    breathing = None
    if p.inhale_s is not None and p.exhale_s is not None:
        breathing = {"inhale_s": p.inhale_s, "hold_s": p.hold_s or 0.0, "exhale_s": p.exhale_s}
    return {
        "id": p.id,
        "user": p.user,
        "t": p.t,
        "expires_t": p.expires_t,
        "kind": p.kind.value,
        "sigh": p.kind is PromptKind.SIGH,
        "title": p.title,
        "body": p.body,
        "duration_s": p.duration_s,
        "breathing": breathing,
        "stop_line": STOP_IF_WORSE if breathing is not None else None,
        "answerable": p.kind is not PromptKind.RECOVERY,
        "feedback_helped": p.feedback_helped,
        "link": link,
    }


@dataclass(slots=True)
class _UserView:
    state: dict[str, Any] | None = None
    samples: deque[tuple[float, float, str]] = field(default_factory=lambda: deque(maxlen=4400))
    episodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    prompts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=PROMPTS_KEPT))
    practice: dict[str, Any] | None = None
    practice_week_min: float = 0.0


@dataclass
class LiveHub:
    """What every open page shows, and the stream of changes to it."""

    name: str = "page"
    side_channel: bool = True
    sample_every_s: float = 20.0
    _users: dict[str, _UserView] = field(default_factory=dict)
    _subscribers: set[asyncio.Queue[PageEvent | None]] = field(default_factory=set)
    _closed: bool = False
    dropped_events: int = 0

    def _view(self, user: str) -> _UserView:
        return self._users.setdefault(user, _UserView())

    # -- history given at start (the archive's today) ---------------------------------------------------
    def seed(
        self,
        user: str,
        *,
        samples: Iterable[tuple[float, float, str]] = (),
        episodes: Iterable[tuple[str, float, float | None]] = (),
        prompts: Iterable[Prompt] = (),
        practice_week_min: float = 0.0,
    ) -> None:
        v = self._view(user)
        v.samples.extend(samples)
        for eid, onset_t, end_t in episodes:
            v.episodes[eid] = {"id": eid, "onset_t": onset_t, "end_t": end_t}
        for p in prompts:
            v.prompts.append(prompt_doc(p))
        v.practice_week_min = practice_week_min

    def snapshot(self, user: str) -> dict[str, Any]:
        v = self._view(user)
        last_t = v.samples[-1][0] if v.samples else None
        since = -math.inf if last_t is None else last_t - DAY_S
        return {
            "schema": PAGE_SCHEMA,
            "user": user,
            "state": v.state,
            "timeline": [[t, _num(s, 0), st] for t, s, st in v.samples if t >= since],
            "episodes": [e for e in v.episodes.values() if (e["end_t"] or math.inf) >= since],
            "prompts": [p for p in v.prompts if p["t"] >= since],
            "practice": v.practice,
            "practice_week_min": round(v.practice_week_min, 1),
        }

    def latest_prompt(self, user: str) -> dict[str, Any] | None:
        v = self._view(user)
        for p in reversed(v.prompts):
            if p["answerable"]:
                doc: dict[str, Any] = p
                return doc
        return None

    # -- fan-out -------------------------------------------------------------------------------------------
    def _emit(self, name: EventName, user: str, doc: dict[str, Any]) -> None:
        ev = PageEvent(name, user, json.dumps(doc, separators=(",", ":"), allow_nan=False))
        for q in self._subscribers:
            if q.full():
                q.get_nowait()  # the oldest goes: a slow page never holds the pipeline
                self.dropped_events += 1
            q.put_nowait(ev)

    async def events(self, user: str, heartbeat_s: float = 15.0) -> AsyncIterator[PageEvent | None]:
        """The snapshot of ``user``, then every change, until the hub closes; None after ``heartbeat_s``
        without one (the page's stream sends a keep-alive)."""
        q: asyncio.Queue[PageEvent | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(q)
        try:
            yield PageEvent(EventName.SNAPSHOT, user, json.dumps(self.snapshot(user), allow_nan=False))
            while not self._closed:
                try:
                    ev = await asyncio.wait_for(q.get(), heartbeat_s)
                except TimeoutError:
                    yield None
                    continue
                if ev is None:
                    break
                if ev.user == user:
                    yield ev
        finally:
            self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        """End every page's stream (the service is stopping)."""
        self._closed = True
        for q in self._subscribers:
            if q.full():
                q.get_nowait()
            q.put_nowait(None)

    # -- the Notifier protocol -------------------------------------------------------------------------
    async def send_prompt(self, prompt: Prompt) -> bool:
        doc = prompt_doc(prompt)
        self._view(prompt.user).prompts.append(doc)
        self._emit(EventName.PROMPT, prompt.user, doc)
        return True

    async def publish_state(self, user: str, arousal: Arousal, strap: StrapStatus | None) -> None:
        v = self._view(user)
        doc = state_doc(user, arousal, strap)
        v.state = doc
        if not v.samples or arousal.t - v.samples[-1][0] >= self.sample_every_s:
            v.samples.append((arousal.t, arousal.score, arousal.state.value))
            doc = {**doc, "sample": [arousal.t, _num(arousal.score, 0), arousal.state.value]}
        self._emit(EventName.STATE, user, doc)

    async def publish_episode(self, user: str, event: EpisodeOnset | Episode) -> None:
        v = self._view(user)
        if isinstance(event, EpisodeOnset):
            eid, end_t = event.episode_id, None
        else:
            eid, end_t = event.id, event.end_t
        doc: dict[str, Any] = {"id": eid, "onset_t": event.onset_t, "end_t": end_t}
        v.episodes[eid] = doc
        self._emit(EventName.EPISODE, user, doc)

    # -- answers and practice (told by the service) ---------------------------------------------------
    def answered(self, user: str, prompt_id: str, helped: bool) -> None:
        for p in self._view(user).prompts:
            if p["id"] == prompt_id:
                p["feedback_helped"] = helped
        self._emit(EventName.ANSWER, user, {"prompt_id": prompt_id, "helped": helped})

    def practice_update(self, user: str, doc: dict[str, Any] | None, *, add_week_min: float = 0.0) -> None:
        """The practice in progress (``None``: none); ``add_week_min`` when one was logged."""
        v = self._view(user)
        v.practice = doc if doc is None or doc.get("running") else None
        v.practice_week_min += add_week_min
        out = {"practice": doc, "practice_week_min": round(v.practice_week_min, 1)}
        self._emit(EventName.PRACTICE, user, out)
