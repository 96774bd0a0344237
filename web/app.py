"""The page's ASGI app (Starlette): the static page, its live stream and its one write endpoint.

Routes (all behind :class:`web.auth.AccessMiddleware`):

* ``GET /``                 the page (``web/static/index.html``); ``?user=`` picks a person, ``?prompt=``
  the prompt a push linked to;
* ``GET /api/state``        what the page shows now (JSON);
* ``GET /api/events``       the same, then every change, as server-sent events;
* ``POST /api/command``     an answer: the same JSON as an MQTT command (``{"command": "feedback",
  "prompt_id": ..., "helped": true}``, ``snooze``, ``practice``), validated by :mod:`alerts.commands`
  on the service's side (:class:`PageActions`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from web.auth import AccessMiddleware, AccessRule
from web.live import LiveHub

STATIC_DIR = Path(__file__).with_name("static")
MAX_BODY_BYTES = 4096
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """What the service made of a request: HTTP ``status`` and a plain-words ``message``."""

    status: int
    message: str
    prompt_id: str | None = None


class PageActions(Protocol):
    """The service's side of the page's answers (implemented where the sessions live)."""

    @property
    def users(self) -> tuple[str, ...]: ...

    async def command(self, user: str, body: bytes, *, origin: str) -> Answer:
        """Apply one command (JSON bytes, the MQTT command schema) from ``origin`` (``page``, ``cli``)."""
        ...


def build_app(
    hub: LiveHub, actions: PageActions, rule: AccessRule, *, heartbeat_s: float = 15.0
) -> Starlette:
    def pick_user(request: Request) -> str | None:
        users = actions.users
        user = request.query_params.get("user") or (users[0] if users else "")
        return user if user in users else None

    def no_user() -> Response:
        return JSONResponse({"message": "nobody by that name is served here"}, status_code=404)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers=SECURITY_HEADERS)

    async def manifest(request: Request) -> Response:
        return FileResponse(
            STATIC_DIR / "manifest.webmanifest",
            media_type="application/manifest+json",
            headers=SECURITY_HEADERS,
        )

    async def state(request: Request) -> Response:
        user = pick_user(request)
        if user is None:
            return no_user()
        doc = hub.snapshot(user)
        doc["users"] = list(actions.users)
        doc["latest_prompt"] = hub.latest_prompt(user)
        return JSONResponse(doc, headers=SECURITY_HEADERS)

    async def events(request: Request) -> Response:
        user = pick_user(request)
        if user is None:
            return no_user()

        async def stream() -> AsyncIterator[bytes]:
            yield b"retry: 2000\n\n"
            async for ev in hub.events(user, heartbeat_s=heartbeat_s):
                yield b": keep-alive\n\n" if ev is None else ev.sse()

        headers = {**SECURITY_HEADERS, "x-accel-buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def command(request: Request) -> Response:
        user = pick_user(request)
        if user is None:
            return no_user()
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse({"message": "request too long"}, status_code=413)
        origin = "cli" if request.headers.get("x-calmstrap-client") == "cli" else "page"
        ans = await actions.command(user, body, origin=origin)
        return JSONResponse(
            {"ok": ans.status < 300, "message": ans.message, "prompt_id": ans.prompt_id},
            status_code=ans.status,
            headers=SECURITY_HEADERS,
        )

    routes = [
        Route("/", index),
        Route("/manifest.webmanifest", manifest),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/command", command, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(AccessMiddleware, rule=rule)])
