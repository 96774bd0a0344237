"""Wiring of the alert path: MQTT settings from the config, the notifier chain, the MQTT client's
lifetime around the pipeline run, and inbound commands applied to the sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence

from alerts.catalog import Prompt
from alerts.commands import (
    Command,
    Feedback,
    Practice,
    Snooze,
    check_feedback_owner,
    check_practice_free,
)
from alerts.console import ConsoleNotifier
from alerts.errors import CommandError, MqttError
from alerts.mqtt import MqttNotifier, MqttSettings
from alerts.notify import Notifier
from alerts.practice import PRACTICE_TEMPLATE_ID, practice_prompts
from calmstrap import __version__
from calmstrap.config import Config, ConfigError, MqttConfig
from calmstrap.pipeline import PracticeRun, StrapSession
from sensors.ids import InvalidUserId

log = logging.getLogger("calmstrap.alerting")

STARTUP_WAIT_S = 1.0
"""How long a run waits for the broker before starting (prompts go to the console until it is up)."""


def mqtt_settings(m: MqttConfig) -> MqttSettings:
    try:
        s = MqttSettings.from_url(
            m.url,
            base_topic=m.base_topic,
            client_id=m.client_id,
            username=m.username,
            password=m.password,
            ca_file=m.ca_file,
            cert_file=m.cert_file,
            key_file=m.key_file,
            homeassistant=m.homeassistant,
            discovery_prefix=m.discovery_prefix,
            state_interval_s=m.state_interval_s,
            reconnect_min_s=max(m.reconnect_min_s, 0.05),
            reconnect_max_s=max(m.reconnect_max_s, m.reconnect_min_s, 0.05),
        )
        s.check()
    except MqttError as exc:
        key = getattr(exc, "key", "url")
        raise ConfigError(
            f"mqtt.{key}", getattr(exc, "value", m.url), getattr(exc, "expected", str(exc)), "config"
        ) from None
    return s


def build_notifiers(
    cfg: Config, console: ConsoleNotifier, *, users: Sequence[str] = (), time_scale: float = 1.0
) -> list[Notifier]:
    """MQTT first when ``mqtt.url`` is set, the console always last (the fallback)."""
    out: list[Notifier] = []
    if cfg.mqtt.url:
        settings = mqtt_settings(cfg.mqtt)
        names = tuple(users) or (cfg.general.user,)
        try:
            out.append(MqttNotifier(settings, users=names, time_scale=time_scale, sw_version=__version__))
        except InvalidUserId as exc:
            raise ConfigError("general.user", exc.value, "", "config", detail=str(exc)) from exc
    out.append(console)
    return out


HISTORY_LIMIT = 500


def restore_learning(session: StrapSession) -> int:
    """Warm-start the session's prompt learner from the archive's earlier prompts of this user."""
    rows = session.archive.query(
        "SELECT kind, helped, feedback_helped FROM prompts WHERE user = ? AND template_id != ?"
        " AND (helped IS NOT NULL OR feedback_helped IS NOT NULL) ORDER BY t DESC LIMIT ?",
        (session.user, PRACTICE_TEMPLATE_ID, HISTORY_LIMIT),
    )
    return session.policy.learn_from_history(
        (str(k), None if h is None else bool(h), None if f is None else bool(f)) for k, h, f in rows
    )


@contextlib.asynccontextmanager
async def alert_services(sessions: Sequence[StrapSession], *, time_scale: float = 1.0) -> AsyncIterator[None]:
    """Open the sessions' MQTT clients (``async with``) and serve their commands while the body runs."""
    seen: dict[int, MqttNotifier] = {}
    for s in sessions:
        for n in s.notifiers:
            if isinstance(n, MqttNotifier):
                seen.setdefault(id(n), n)
    clients = list(seen.values())
    by_user = {s.user: s for s in sessions}
    for s in sessions:
        restore_learning(s)
    async with contextlib.AsyncExitStack() as stack:
        for c in clients:
            await stack.enter_async_context(c)
        for c in clients:
            with contextlib.suppress(MqttError, TimeoutError):
                await c.wait_connected(STARTUP_WAIT_S)
        tasks = [
            asyncio.create_task(
                serve_commands(c, by_user, time_scale), name=f"mqtt-commands:{c.settings.host}"
            )
            for c in clients
        ]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t


def _now(session: StrapSession) -> float:
    t = session.processor.last_t
    return t if math.isfinite(t) else time.time()


async def serve_commands(source: MqttNotifier, sessions: dict[str, StrapSession], time_scale: float) -> None:
    """Apply every valid inbound command to its user's session; practices run as named tasks."""
    async with asyncio.TaskGroup() as tg:
        async for cmd in source.commands():
            session = sessions.get(cmd.user)
            if session is None:
                log.warning("ignored a command for user %r, who has no session here", cmd.user)
                continue
            try:
                apply_command(session, cmd, tg, time_scale, where=source.topic(cmd.user, "command"))
            except CommandError as exc:
                log.warning("%s", exc)


def prompt_owner(session: StrapSession, prompt_id: str) -> str | None:
    """The user the archive has for a prompt id (None: no such prompt)."""
    rows = session.archive.query("SELECT user FROM prompts WHERE id = ?", (prompt_id,))
    return str(rows[0][0]) if rows else None


def apply_command(
    session: StrapSession, cmd: Command, tg: asyncio.TaskGroup, time_scale: float, *, where: str = "command"
) -> None:
    """Apply a valid, fresh command (:mod:`alerts.commands`) to its user's session; the MQTT intake and the
    web page both call this. Raises :class:`alerts.errors.CommandError` when the session refuses it:
    feedback on a prompt that is not this user's, or a practice while one runs (nothing is changed then).
    ``where`` names the command's origin in that error."""
    if cmd.user != session.user:
        raise CommandError(where, f"a command for {cmd.user} given to the session of {session.user}")
    match cmd:
        case Snooze():
            session.policy.snooze(_now(session), cmd.minutes)
            log.info("%s: prompts snoozed for %g minutes", session.user, cmd.minutes)
        case Feedback():
            check_feedback_owner(cmd, prompt_owner(session, cmd.prompt_id), where)
            learned = session.policy.on_feedback(cmd.prompt_id, cmd.helped)
            session.archive.set_prompt_feedback(cmd.prompt_id, cmd.helped)
            session.archive.commit()
            if not learned:
                log.info("%s: feedback stored (prompt not in this run's learning window)", session.user)
        case Practice():
            running = session.practice
            remaining_s = None
            if running is not None and not running.task.done():
                remaining_s = max(running.end_t - _now(session), 0.0)
            check_practice_free(session.user, remaining_s, where)
            start = _now(session)
            prompts = practice_prompts(session.user, start, cmd.minutes, cmd.breaths_per_min)
            task = tg.create_task(
                run_practice(session, prompts, start, time_scale), name=f"practice:{session.user}"
            )
            session.practice = PracticeRun(task, prompts[-1].expires_t)


async def run_practice(
    session: StrapSession, prompts: Sequence[Prompt], start: float, time_scale: float
) -> None:
    """Send a practice's pacing prompts on time (pipeline clock, ``time_scale`` x the wall clock)."""
    wall0 = time.monotonic()
    log.info("%s: guided practice, %d breaths", session.user, len(prompts))
    for p in prompts:
        delay = wall0 + (p.t - start) / time_scale - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await session.deliver(p)
