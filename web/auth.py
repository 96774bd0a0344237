"""Who may read the page and change anything: the token, the host check and cross-site protection.

* Loopback (127.0.0.1, ::1, localhost) without a configured token: anyone on this machine may read, but
  the ``Host`` header must name a loopback host (a web site that rebinds its DNS name to 127.0.0.1 gets
  421 and nothing else).
* Any other address, or any configured token: every request needs the token (cookie ``calmstrap_token``,
  set by opening ``/?token=...`` once, or ``Authorization: Bearer ...``); without it 401 and no data.
* Every state-changing request (POST) needs the header ``X-Calmstrap-Request: 1`` (a cross-site page cannot
  send it without a CORS preflight, which is never granted), an ``Origin`` (when the browser sends one)
  equal to the page's own, and no ``Sec-Fetch-Site: cross-site``. The cookie is ``HttpOnly; SameSite=Strict``.

The token is compared in constant time and never logged; uvicorn's access log is off.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from web.listen import LOOPBACK_HOSTS

COOKIE = "calmstrap_token"
CSRF_HEADER = b"x-calmstrap-request"
SAFE_METHODS = frozenset({"GET", "HEAD"})
COOKIE_MAX_AGE_S = 400 * 86400


@dataclass(frozen=True, slots=True)
class AccessRule:
    token: str | None
    """None: no token needed (loopback, none configured)."""
    loopback_only: bool


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _host_name(host_header: str) -> str:
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def cookie_header(token: str) -> str:
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_S}"


class AccessMiddleware:
    """Pure ASGI middleware (streams pass through untouched)."""

    def __init__(self, app: ASGIApp, rule: AccessRule) -> None:
        self.app = app
        self.rule = rule

    async def _refuse(
        self, send: Send, status: int, text: str, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _token_ok(self, headers: dict[bytes, bytes]) -> bool:
        want = self.rule.token
        if want is None:
            return True
        got = ""
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            got = auth[7:].strip()
        elif b"cookie" in headers:
            c: SimpleCookie = SimpleCookie()
            try:
                c.load(headers[b"cookie"].decode("latin-1"))
            except Exception:  # a malformed cookie header is no token
                return False
            morsel = c.get(COOKIE)
            got = morsel.value if morsel is not None else ""
        return bool(got) and hmac.compare_digest(got.encode(), want.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get(b"host", b"").decode("latin-1")
        if self.rule.loopback_only and _host_name(host) not in LOOPBACK_HOSTS:
            await self._refuse(send, 421, "This page answers only on this machine's loopback address.")
            return
        method = scope["method"]
        if self.rule.token is not None and method in SAFE_METHODS and scope["path"] == "/":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [""])[0]
            if given and hmac.compare_digest(given.encode(), self.rule.token.encode()):
                # the token moves into a cookie and out of the address bar (and the browser history)
                keep = "&".join(f"{k}={v[0]}" for k, v in query.items() if k in ("user", "prompt"))
                await send(
                    {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [
                            (b"location", ("/?" + keep if keep else "/").encode()),
                            (b"set-cookie", cookie_header(self.rule.token).encode()),
                            (b"cache-control", b"no-store"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"content-length", b"0"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        if not self._token_ok(headers):
            await self._refuse(
                send,
                401,
                "This page needs its key. Open the link calmstrap printed when it started "
                "(it ends in ?token=...), or ask the person who runs it.",
                ((b"www-authenticate", b'Bearer realm="calmstrap"'),),
            )
            return
        if method not in SAFE_METHODS:
            origin = headers.get(b"origin", b"").decode("latin-1")
            site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
            scheme = scope.get("scheme", "http")
            if (
                headers.get(CSRF_HEADER) != b"1"
                or (origin and origin != f"{scheme}://{host}")
                or site == "cross-site"
            ):
                await self._refuse(send, 403, "Refused: this request did not come from calmstrap's own page.")
                return
        await self.app(scope, receive, send)
