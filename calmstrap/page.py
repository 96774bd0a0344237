"""The person's page wired to the sessions: where it listens, its token, its answers, its history.

``plan_page`` binds the page's socket before anything starts (so a bad or busy address is a clear error
and the real port is known for the pushes' links); ``page_service`` serves it around the pipeline run:
the hub is seeded with today's rows from the archive, answers go through
:func:`calmstrap.alerting.apply_command` (the same as MQTT's), validated by :mod:`alerts.commands`.
The token, when one is needed, is printed once to the console as a link to open on the phone; it is
never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from alerts.catalog import Prompt, PromptKind
from alerts.commands import Feedback, command_from_object
from alerts.errors import CommandError, NotOwnPrompt, PracticeRunning
from calmstrap.alerting import apply_command
from calmstrap.config import Config, ConfigError
from calmstrap.pipeline import StrapSession
from storage.archive import Archive
from storage.practice import practice_minutes
from web.app import Answer, build_app
from web.auth import AccessRule
from web.errors import BindError, ListenError
from web.listen import Listen, parse_listen
from web.live import LiveHub
from web.server import bind, serve_page

log = logging.getLogger("calmstrap.page")

SAMPLE_EVERY_S = 20.0
COMMAND_ROUTE = "/api/command"


@dataclass
class PagePlan:
    """A bound page socket with what it needs to serve."""

    listen: Listen
    sock: socket.socket
    token: str | None
    generated_token: bool
    public_url: str
    hub: LiveHub

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])


def plan_page(cfg: Config, web_arg: str | None, *, default_on: bool) -> PagePlan | None:
    """The page of ``--web`` (else ``[web] listen`` when ``default_on``), bound; None when off.

    A busy port with the config's default address is a warning (the service runs without its page);
    with an address asked for it is an error.
    """
    text = web_arg if web_arg is not None else (cfg.web.listen if default_on else "off")
    try:
        listen = parse_listen(text)
    except ListenError as exc:
        key = "--web" if web_arg is not None else "web.listen"
        raise ConfigError(
            key, text, exc.expected, "command line" if web_arg is not None else "config"
        ) from None
    if listen is None:
        return None
    try:
        sock = bind(listen)
    except BindError as exc:
        if web_arg is None:
            log.warning("%s; running without the page (set [web] listen or --web)", exc)
            return None
        raise ConfigError(
            "--web", text, f"an address this machine can serve on ({exc.reason})", "command line"
        ) from None
    token = cfg.web.token or None
    generated = False
    if token is None and listen.needs_token:
        token, generated = secrets.token_urlsafe(24), True
    port = int(sock.getsockname()[1])
    host = socket.gethostname() if listen.host in ("0.0.0.0", "::") else listen.host
    public = cfg.web.public_url or Listen(host, port).url()
    return PagePlan(listen, sock, token, generated, public, LiveHub(sample_every_s=SAMPLE_EVERY_S))


class ServiceActions:
    """The page's answers, applied to the sessions (:class:`web.app.PageActions`)."""

    def __init__(self, sessions: Sequence[StrapSession], time_scale: float, tg: asyncio.TaskGroup):
        self._by_user = {s.user: s for s in sessions}
        self._time_scale = time_scale
        self._tg = tg

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(self._by_user)

    async def command(self, user: str, body: bytes, *, origin: str) -> Answer:
        session = self._by_user.get(user)
        if session is None:
            return Answer(404, "nobody by that name is served here")
        try:
            obj = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            return Answer(400, "not valid JSON")
        try:
            cmd = command_from_object(user, obj, COMMAND_ROUTE)
            message = apply_command(
                session, cmd, self._tg, self._time_scale, where=COMMAND_ROUTE, origin=origin
            )
        except NotOwnPrompt as exc:
            return Answer(404, exc.reason)
        except PracticeRunning as exc:
            return Answer(409, exc.reason)
        except CommandError as exc:
            return Answer(400, exc.reason)
        return Answer(200, message, cmd.prompt_id if isinstance(cmd, Feedback) else None)


def _prompt_from_row(row: tuple[object, ...]) -> Prompt:
    (pid, user, t, kind, title, body, duration_s, template_id, expires_t, inhale, hold, exhale, fb) = row
    return Prompt(
        id=str(pid),
        user=str(user),
        t=float(t),  # type: ignore[arg-type]
        kind=PromptKind(str(kind)),
        title=str(title),
        body=str(body),
        duration_s=int(duration_s),  # type: ignore[call-overload]
        template_id=str(template_id),
        expires_t=float(expires_t),  # type: ignore[arg-type]
        inhale_s=None if inhale is None else float(inhale),  # type: ignore[arg-type]
        hold_s=None if hold is None else float(hold),  # type: ignore[arg-type]
        exhale_s=None if exhale is None else float(exhale),  # type: ignore[arg-type]
        feedback_helped=None if fb is None else bool(fb),
    )


def seed_from_archive(hub: LiveHub, archive: Archive, user: str, now: float) -> None:
    """Today's arousal, episodes and prompts, and this week's practice minutes, from the archive."""
    day = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    since = day.timestamp()
    week = (day - timedelta(days=day.weekday())).timestamp()
    samples: list[tuple[float, float, str]] = []
    for t, score, state in archive.iter_query(
        "SELECT t, score, state FROM arousal WHERE user = ? AND t >= ? ORDER BY t", (user, since)
    ):
        if not samples or t - samples[-1][0] >= SAMPLE_EVERY_S:
            samples.append((float(t), float(score), str(state)))
    episodes = [
        (str(i), float(a), float(b))
        for i, a, b in archive.query(
            "SELECT id, onset_t, end_t FROM episodes WHERE user = ? AND end_t >= ? ORDER BY onset_t",
            (user, since),
        )
    ]
    prompts = [
        _prompt_from_row(r)
        for r in archive.query(
            "SELECT id, user, t, kind, title, body, duration_s, template_id, expires_t, inhale_s, hold_s,"
            " exhale_s, feedback_helped FROM prompts WHERE user = ? AND t >= ? ORDER BY t",
            (user, since),
        )
    ]
    hub.seed(
        user,
        samples=samples,
        episodes=episodes,
        prompts=prompts,
        practice_week_min=practice_minutes(archive, user, week),
    )


def announce(plan: PagePlan, out: TextIO) -> None:
    """The page's address, once, on the console (with the token when one is needed: never logged)."""
    if plan.token is not None:
        out.write(
            f"Your page (open it on your phone; the link holds its key): {plan.public_url}?token={plan.token}\n"
        )
    else:
        out.write(f"Your page: {plan.public_url}\n")
    out.flush()


@contextlib.asynccontextmanager
async def page_service(
    plan: PagePlan,
    cfg: Config,
    sessions: Sequence[StrapSession],
    *,
    data_dir: Path,
    time_scale: float = 1.0,
    out: TextIO | None = None,
    seed_now: float | None = None,
) -> AsyncIterator[PagePlan]:
    """Serve the page while the body runs; practices it starts run in its own task group."""
    if seed_now is not None:
        for s in sessions:
            seed_from_archive(plan.hub, s.archive, s.user, seed_now)
    try:
        async with asyncio.TaskGroup() as tg:
            actions = ServiceActions(sessions, time_scale, tg)
            rule = AccessRule(plan.token, loopback_only=not plan.listen.needs_token)
            app = build_app(plan.hub, actions, rule)
            async with serve_page(
                app, plan.listen, plan.sock, data_dir=data_dir, token=plan.token
            ) as running:
                log.info("page served on %s", running.url)
                announce(plan, out or sys.stdout)
                try:
                    yield plan
                finally:
                    plan.hub.close()
            raise _Stopped  # practices still running end with the service (their rows are stored)
    except* _Stopped:
        pass


class _Stopped(Exception):
    """Ends the page's task group (and the practices in it) when the service stops."""
