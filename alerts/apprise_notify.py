"""Phone pushes through Apprise (ntfy, Gotify, Pushover, Telegram, Matrix, e-mail, JSON webhooks, ...).

:class:`AppriseNotifier` is a side channel beside MQTT (``side_channel = True``: the pipeline gives it every
prompt, whatever MQTT does). Each configured URL is its own channel with its own queue and a named task
that delivers it: a channel that fails is logged (by its service name and number, never its URL: Apprise
URLs hold tokens and passwords) and retried with a growing random delay while the prompt is still within
its expiry; a prompt that expired meanwhile is dropped, never sent late; other channels deliver meanwhile.
Each push carries the prompt's title, text and a link to the page (``link_base?prompt=<id>``).

Clock: expiries are on the pipeline's clock, extrapolated from its newest time at ``time_scale`` (as in
:mod:`alerts.mqtt`). Use as ``async with AppriseNotifier(...)``; prompts given before that wait in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from alerts.catalog import STOP_IF_WORSE, Prompt, PromptKind
from alerts.clock import PipelineClock
from alerts.errors import AlertError
from alerts.notice import Notice
from alerts.notify import StrapStatus
from processing.arousal import Arousal
from processing.episodes import Episode, EpisodeOnset

log = logging.getLogger("calmstrap.push")


class PushSettingsError(AlertError, ValueError):
    """A push URL Apprise cannot use: ``index`` (1-based) in ``notify.urls`` and its ``scheme`` only."""

    def __init__(self, index: int, scheme: str) -> None:
        self.index = index
        self.scheme = scheme
        super().__init__(
            f"notify.urls entry {index} ({scheme}://...) is not an Apprise URL this version knows "
            "(e.g. ntfy://topic, gotifys://host/token, json://host:port/)"
        )


@dataclass(frozen=True, slots=True)
class PushMessage:
    key: str
    title: str
    body: str
    expires_t: float


@dataclass(slots=True)
class PushStats:
    sent: int = 0
    failed_attempts: int = 0
    dropped_expired: int = 0


@dataclass
class _Channel:
    label: str
    apobj: Any
    """An ``apprise.Apprise`` holding this one URL."""
    queue: deque[PushMessage] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stats: PushStats = field(default_factory=PushStats)


def _scheme(url: str) -> str:
    head = url.split("://", 1)[0] if "://" in url else "?"
    return head if head.isalnum() else "?"


def prompt_message(p: Prompt, link: str | None) -> PushMessage:
    lines = [p.body]
    if p.inhale_s is not None and p.exhale_s is not None and p.kind is not PromptKind.RECOVERY:
        lines.append(STOP_IF_WORSE)
    if link:
        lines.append(f"Breathe with the circle and answer: {link}")
    return PushMessage(p.id, p.title, "\n".join(lines), p.expires_t)


class AppriseNotifier:
    """Pushes to every configured Apprise URL, each retried within the prompt's expiry."""

    name = "push"
    side_channel = True

    def __init__(
        self,
        urls: Sequence[str],
        *,
        link_base: str | None = None,
        time_scale: float = 1.0,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
        timeout_s: float = 10.0,
        seed: int | None = None,
    ) -> None:
        self.link_base = link_base
        self.time_scale = float(time_scale)
        self.retry_min_s = retry_min_s
        self.retry_max_s = max(retry_max_s, retry_min_s)
        self.timeout_s = timeout_s
        self._rng = random.Random(seed)
        self._clock = PipelineClock(self.time_scale)
        self._channels: list[_Channel] = []
        self._tasks: list[asyncio.Task[None]] = []
        import apprise  # only when pushes are configured (its plugins take a while to load)

        for i, url in enumerate(urls, start=1):
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                raise PushSettingsError(i, _scheme(url))
            obj = apprise.Apprise()
            obj.add(plugin)
            self._channels.append(_Channel(f"{plugin.service_name} push #{i}", obj))

    # ---------------------------------------------------------------- clock and stats
    def now(self) -> float:
        """The pipeline clock (:class:`alerts.clock.PipelineClock`)."""
        return self._clock.now()

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self._channels)

    def stats(self, index: int = 0) -> PushStats:
        return self._channels[index].stats

    def link(self, query: str) -> str | None:
        return f"{self.link_base.rstrip('/')}/?{query}" if self.link_base else None

    # ---------------------------------------------------------------- lifetime
    async def __aenter__(self) -> AppriseNotifier:
        self._tasks = [asyncio.create_task(self._deliver(c), name=f"push:{c.label}") for c in self._channels]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

    def _backoff_s(self, failures: int) -> float:
        base_s = min(self.retry_max_s, self.retry_min_s * 2.0 ** (failures - 1))
        return float(base_s * self._rng.uniform(0.5, 1.0))

    async def _attempt(self, c: _Channel, m: PushMessage) -> bool:
        try:
            async with asyncio.timeout(self.timeout_s):
                return bool(await c.apobj.async_notify(title=m.title, body=m.body))
        except TimeoutError:
            return False
        except Exception as exc:  # a plugin's own error is a failed attempt, never the pipeline's
            log.warning("%s: push failed (%s)", c.label, type(exc).__name__)
            return False

    async def _deliver(self, c: _Channel) -> None:
        failures = 0
        while True:
            while not c.queue:
                c.wake.clear()
                await c.wake.wait()
            m = c.queue[0]
            remaining_wall_s = (m.expires_t - self.now()) / self.time_scale
            if remaining_wall_s <= 0:
                c.queue.popleft()
                c.stats.dropped_expired += 1
                log.info("%s: dropped %s, it expired before it could be delivered", c.label, m.key)
                failures = 0
                continue
            if await self._attempt(c, m):
                c.queue.popleft()
                c.stats.sent += 1
                if failures:
                    log.info("%s: delivered %s after %d failed attempts", c.label, m.key, failures)
                failures = 0
                continue
            failures += 1
            c.stats.failed_attempts += 1
            delay = self._backoff_s(failures)
            log.warning(
                "%s: could not deliver %s (attempt %d); retrying in %.1f s while it is still useful",
                c.label,
                m.key,
                failures,
                delay,
            )
            remaining_wall_s = (m.expires_t - self.now()) / self.time_scale
            await asyncio.sleep(max(0.0, min(delay, remaining_wall_s)))

    def _enqueue(self, m: PushMessage) -> None:
        for c in self._channels:
            c.queue.append(m)
            c.wake.set()

    # ---------------------------------------------------------------- the Notifier protocol
    async def send_prompt(self, prompt: Prompt) -> bool:
        """Queue the prompt on every channel (delivered by their tasks); True: accepted."""
        self._clock.advance(prompt.t)
        self._enqueue(prompt_message(prompt, self.link(f"prompt={prompt.id}")))
        return True

    async def send_notice(self, notice: Notice) -> bool:
        self._clock.advance(notice.t)
        link = self.link(notice.link_query) if notice.link_query else self.link_base
        body = notice.body + (f"\n{link}" if link else "")
        self._enqueue(PushMessage(notice.id, notice.title, body, notice.expires_t))
        return True

    async def publish_state(self, user: str, arousal: Arousal, strap: StrapStatus | None) -> None:
        self._clock.advance(arousal.t)

    async def publish_episode(self, user: str, event: EpisodeOnset | Episode) -> None:
        return None
