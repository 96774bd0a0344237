"""Wiring of the alert path: MQTT settings from the config, the notifier chain, the MQTT client's
lifetime around the pipeline run, and inbound commands applied to the sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence

from alerts.apprise_notify import AppriseNotifier, PushSettingsError
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
from alerts.practice import PRACTICE_TEMPLATE_ID
from calmstrap import __version__
from calmstrap.config import Config, ConfigError, MqttConfig
from calmstrap.pipeline import PracticeRun, StrapSession
from calmstrap.practice_session import run_practice
from sensors.ids import InvalidUserId
from web.live import LiveHub

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
    cfg: Config,
    console: ConsoleNotifier,
    *,
    users: Sequence[str] = (),
    time_scale: float = 1.0,
    hub: LiveHub | None = None,
    link_base: str | None = None,
) -> list[Notifier]:
    """Side channels first (the page ``hub``, Apprise pushes when ``notify.urls`` is set: each gets every
    prompt), then MQTT when ``mqtt.url`` is set, the console always last (the fallback)."""
    out: list[Notifier] = []
    if hub is not None:
        out.append(hub)
    if cfg.notify.urls:
        try:
            out.append(
                AppriseNotifier(
                    cfg.notify.urls,
                    link_base=link_base,
                    time_scale=time_scale,
                    retry_min_s=max(cfg.notify.retry_min_s, 0.05),
                    retry_max_s=max(cfg.notify.retry_max_s, cfg.notify.retry_min_s, 0.05),
                )
            )
        except PushSettingsError as exc:
            raise ConfigError(
                "notify.urls", f"entry {exc.index} ({exc.scheme}://...)", "Apprise URLs", "config"
            ) from None
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
    """Open the sessions' MQTT clients and push channels (``async with``) and serve MQTT commands while the
    body runs."""
    seen: dict[int, MqttNotifier | AppriseNotifier] = {}
    for s in sessions:
        for n in s.notifiers:
            if isinstance(n, MqttNotifier | AppriseNotifier):
                seen.setdefault(id(n), n)
    clients = [n for n in seen.values() if isinstance(n, MqttNotifier)]
    by_user = {s.user: s for s in sessions}
    for s in sessions:
        restore_learning(s)
    async with contextlib.AsyncExitStack() as stack:
        for n in seen.values():
            await stack.enter_async_context(n)
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
    session: StrapSession,
    cmd: Command,
    tg: asyncio.TaskGroup,
    time_scale: float,
    *,
    where: str = "command",
    origin: str = "mqtt",
) -> str:
    """Apply a valid, fresh command (:mod:`alerts.commands`) to its user's session; the MQTT intake, the
    page and the CLI (through the page's API) all call this. Returns what was done, in plain words for the
    person. Raises :class:`alerts.errors.CommandError` when the session refuses it: feedback on a prompt
    that is not this user's, or a practice while one runs (nothing is changed then). ``where`` names the
    command's origin in that error; ``origin`` (``mqtt``, ``page``, ``cli``) is stored with a practice."""
    if cmd.user != session.user:
        raise CommandError(where, f"a command for {cmd.user} given to the session of {session.user}")
    match cmd:
        case Snooze():
            session.policy.snooze(_now(session), cmd.minutes)
            log.info("%s: prompts snoozed for %g minutes", session.user, cmd.minutes)
            return f"No prompts for {cmd.minutes:g} minutes."
        case Feedback():
            check_feedback_owner(cmd, prompt_owner(session, cmd.prompt_id), where)
            learned = session.policy.on_feedback(cmd.prompt_id, cmd.helped)
            session.archive.set_prompt_feedback(cmd.prompt_id, cmd.helped)
            session.archive.commit()
            if not learned:
                log.info("%s: feedback stored (prompt not in this run's learning window)", session.user)
            for n in session.notifiers:
                if isinstance(n, LiveHub):
                    n.answered(session.user, cmd.prompt_id, cmd.helped)
            return "Thanks, noted."
        case Practice():
            running = session.practice
            remaining_s = None
            if running is not None and not running.task.done():
                remaining_s = max(running.end_t - _now(session), 0.0)
            check_practice_free(session.user, remaining_s, where)
            start = _now(session)
            task = tg.create_task(
                run_practice(session, cmd, time_scale, origin, start), name=f"practice:{session.user}"
            )
            session.practice = PracticeRun(task, start + 60.0 * cmd.minutes)
            return f"Practice started: {cmd.minutes:g} minute{'s' if cmd.minutes != 1 else ''}."
