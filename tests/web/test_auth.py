"""Private by default: the token off loopback, cross-site protection, no data without the key."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from processing.episodes import EpisodeOnset
from tests.web.conftest import chromium, served

NON_LOOPBACK = "127.0.0.2:0"  # still this machine, but not 127.0.0.1/::1/localhost: a token is needed


def _request(
    url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_page_without_the_token_on_a_non_loopback_address_gets_401_and_no_data(tmp_path: Path) -> None:
    """On 127.0.0.2 the page, its state and its stream answer 401 without the token and show nothing."""

    async def main() -> dict[str, tuple[int, str]]:
        async with served(tmp_path, listen=NON_LOOPBACK) as s, chromium() as browser:
            assert s.plan.token
            now = time.time()
            prompt = s.session.policy.on_onset(EpisodeOnset("ep", "me", now - 60.0, now, 95.0))
            assert prompt is not None
            await s.session.deliver(prompt)
            ctx = await browser.new_context()
            page = await ctx.new_page()
            out = {}
            for path in ("", "api/state", "api/events", "static/app.js"):
                resp = await page.goto(s.url + path)
                out[path] = (resp.status, await page.content())
            out["title"] = (0, prompt.title)
            out["token"] = (0, s.plan.token)
            return out

    got = asyncio.run(main())
    title, token = got.pop("title")[1], got.pop("token")[1]
    for path, (status, html) in got.items():
        assert status == 401, path
        assert title not in html and '"hr_bpm"' not in html and "Slow" not in html, path
        assert token not in html


def test_the_token_link_opens_the_page_once_and_leaves_a_strict_http_only_cookie(tmp_path: Path) -> None:
    """/?token=... answers with a cookie and a redirect to / (the token leaves the address bar)."""

    async def main() -> tuple[str, list[dict[str, object]], str]:
        async with served(tmp_path, listen=NON_LOOPBACK) as s, chromium() as browser:
            assert s.plan.token
            ctx = await browser.new_context()
            page = await ctx.new_page()
            await page.goto(f"{s.url}?token={s.plan.token}")
            await page.wait_for_function("() => window.__calmstrap && window.__calmstrap.events > 0")
            word = await page.inner_text("#state-word")
            return page.url, await ctx.cookies(), word

    url, cookies, word = asyncio.run(main())
    assert "token" not in url and url.endswith("/")
    (c,) = [c for c in cookies if c["name"] == "calmstrap_token"]
    assert c["httpOnly"] is True and c["sameSite"] == "Strict"
    assert word  # the page loaded its snapshot


def test_state_changes_need_the_page_header_and_its_own_origin(tmp_path: Path) -> None:
    """A POST without the page's header, or from another origin, is refused (403) and changes nothing."""

    async def main() -> list[int]:
        async with served(tmp_path) as s:
            body = json.dumps({"command": "snooze", "minutes": 60}).encode()
            base = {"content-type": "application/json"}
            page_header = {**base, "x-calmstrap-request": "1"}
            u = urlsplit(s.url)
            own = f"http://{u.netloc}"
            results = []
            for headers in (
                base,  # a cross-site form or fetch without preflight
                {**page_header, "origin": "http://evil.example"},
                {**page_header, "origin": own, "sec-fetch-site": "cross-site"},
            ):
                status, _ = await asyncio.to_thread(_request, s.url, "POST", "/api/command", body, headers)
                results.append(status)
            snoozed_before = s.session.policy.snooze_until
            status, _ = await asyncio.to_thread(
                _request, s.url, "POST", "/api/command", body, {**page_header, "origin": own}
            )
            results.append(status)
            assert snoozed_before == 0.0 and s.session.policy.snooze_until > 0.0
            return results

    assert asyncio.run(main()) == [403, 403, 403, 200]


def test_a_loopback_page_refuses_a_foreign_host_name(tmp_path: Path) -> None:
    """DNS rebinding: a request to 127.0.0.1 that names another host gets 421 and no data."""

    async def main() -> tuple[int, bytes, int]:
        async with served(tmp_path) as s:
            status, body = await asyncio.to_thread(
                _request, s.url, "GET", "/api/state", None, {"host": "calm.evil.example"}
            )
            ok, _ = await asyncio.to_thread(_request, s.url, "GET", "/api/state")
            return status, body, ok

    status, body, ok = asyncio.run(main())
    assert (status, ok) == (421, 200)
    assert b"hr_bpm" not in body


def test_a_bearer_token_is_checked_and_a_wrong_one_refused(tmp_path: Path) -> None:
    """With a configured token, ``Authorization: Bearer`` works for the CLI; a wrong one gets 401."""

    async def main() -> tuple[int, int]:
        env = {"CALMSTRAP_WEB__TOKEN": "correct-horse-battery"}
        async with served(tmp_path, env) as s:
            bad, _ = await asyncio.to_thread(
                _request, s.url, "GET", "/api/state", None, {"authorization": "Bearer wrong"}
            )
            good, _ = await asyncio.to_thread(
                _request, s.url, "GET", "/api/state", None, {"authorization": "Bearer correct-horse-battery"}
            )
            return bad, good

    assert asyncio.run(main()) == (401, 200)


def test_the_token_never_reaches_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Serving, the token link and a request with the token leave no trace of it in the log records."""
    caplog.set_level(logging.DEBUG)

    async def main() -> str:
        async with served(tmp_path, listen=NON_LOOPBACK) as s:
            assert s.plan.token
            status, _ = await asyncio.to_thread(_request, s.url, "GET", f"/?token={s.plan.token}")
            assert status == 303
            return s.plan.token

    token = asyncio.run(main())
    assert caplog.records
    assert all(token not in r.getMessage() for r in caplog.records)
