"""Phone pushes through Apprise to a real loopback HTTP receiver (Apprise's json:// service)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from alerts.apprise_notify import AppriseNotifier, PushSettingsError
from alerts.catalog import Prompt, PromptKind
from tests.support.http_receiver import Receiver


def prompt(pid: str, t: float, expiry_s: float = 120.0, kind: PromptKind = PromptKind.BREATHING) -> Prompt:
    return Prompt(
        id=pid,
        user="me",
        t=t,
        kind=kind,
        title="Slow breathing",
        body=f"In for 4, out for 6 ({pid}).",
        duration_s=60,
        template_id="slow-breathing-6",
        expires_t=t + expiry_s,
        inhale_s=4.0,
        hold_s=0.0,
        exhale_s=6.0,
    )


def test_each_prompt_arrives_as_json_with_its_title_text_and_link() -> None:
    """A prompt becomes one JSON POST with the title, the text, the stop line and a link to the page."""

    async def main(r: Receiver) -> None:
        async with AppriseNotifier([r.url], link_base="http://127.0.0.1:8421/") as push:
            assert await push.send_prompt(prompt("me-1", time.time()))
            await asyncio.to_thread(r.wait_for, 1, 10.0)

    with Receiver() as r:
        asyncio.run(main(r))
        (got,) = r.messages()
    assert got.doc["title"] == "Slow breathing"
    assert "In for 4, out for 6 (me-1)." in got.doc["message"]
    assert "Stop if this feels worse" in got.doc["message"]
    assert "http://127.0.0.1:8421/?prompt=me-1" in got.doc["message"]


def test_a_receiver_that_is_down_gets_the_prompt_when_it_is_back_within_its_expiry() -> None:
    """Receiver down for 2 s of a 20 s expiry: retried, delivered once after it came back."""
    r = Receiver()

    async def main() -> tuple[float, float]:
        async with AppriseNotifier([r.url], retry_min_s=0.2, retry_max_s=0.5, seed=1) as push:
            t0 = time.time()
            await push.send_prompt(prompt("me-1", t0, expiry_s=20.0))
            await asyncio.sleep(2.0)
            up = time.time()
            r.start()
            await asyncio.to_thread(r.wait_for, 1, 10.0)
            assert push.stats().failed_attempts >= 2
            return up, t0 + 20.0

    try:
        up, expires = asyncio.run(main())
        got = r.messages()
    finally:
        r.stop()
    assert len(got) == 1
    assert up <= got[0].wall_t < expires


def test_a_prompt_that_expired_while_the_receiver_was_down_is_never_sent_late() -> None:
    """Expiry 1 s, receiver down 2.5 s: the prompt is dropped; a later one is delivered."""
    r = Receiver()

    async def main() -> int:
        async with AppriseNotifier([r.url], retry_min_s=0.2, retry_max_s=0.3, seed=2) as push:
            await push.send_prompt(prompt("old", time.time(), expiry_s=1.0))
            await asyncio.sleep(2.5)
            r.start()
            await push.send_prompt(prompt("new", time.time(), expiry_s=30.0))
            await asyncio.to_thread(r.wait_for, 1, 10.0)
            await asyncio.sleep(0.5)
            return push.stats().dropped_expired

    try:
        dropped = asyncio.run(main())
        got = r.messages()
    finally:
        r.stop()
    assert dropped == 1
    assert ["(new)" in m.doc["message"] for m in got] == [True]


def test_one_failing_channel_never_holds_up_another() -> None:
    """Two URLs, the first refusing connections: the second still gets the prompt at once."""
    down, up = Receiver(), Receiver()

    async def main() -> float:
        async with AppriseNotifier([down.url, up.url], retry_min_s=0.5, retry_max_s=1.0) as push:
            t0 = time.time()
            await push.send_prompt(prompt("me-1", t0, expiry_s=30.0))
            await asyncio.to_thread(up.wait_for, 1, 10.0)
            return time.time() - t0

    with up:
        took_s = asyncio.run(main())
        assert len(up.messages()) == 1
    assert took_s < 5.0


def test_a_bad_url_is_refused_naming_its_place_and_scheme_never_its_secret() -> None:
    """An unknown scheme raises PushSettingsError with the entry number and scheme, not the token."""
    with pytest.raises(PushSettingsError) as info:
        AppriseNotifier(["json://127.0.0.1:1/", "nosuchservice://s3cr3t-token@host/"])
    assert info.value.index == 2 and info.value.scheme == "nosuchservice"
    assert "s3cr3t" not in str(info.value)


def test_failures_are_logged_by_service_name_never_by_url(caplog: pytest.LogCaptureFixture) -> None:
    """The warning for a failed push names "JSON push #1", not the URL with its credentials."""
    caplog.set_level(logging.DEBUG, logger="calmstrap.push")
    r = Receiver()
    url = f"json://alice:hunter2@127.0.0.1:{r.port}/"

    async def main() -> None:
        async with AppriseNotifier([url], retry_min_s=0.1, retry_max_s=0.2) as push:
            await push.send_prompt(prompt("me-1", time.time(), expiry_s=0.6))
            await asyncio.sleep(1.0)

    asyncio.run(main())
    msgs = [rec.getMessage() for rec in caplog.records if rec.name == "calmstrap.push"]
    assert any("push #1" in m for m in msgs)
    assert all("hunter2" not in m and "alice" not in m for m in msgs)
