"""Commands through a real Mosquitto into the sessions: nothing outlives its intent, nothing crosses users."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from alerts.catalog import Prompt
from alerts.console import ConsoleNotifier
from alerts.mqtt import MqttNotifier
from calmstrap.alerting import alert_services
from calmstrap.cli import notifiers_for
from calmstrap.config import load_config
from calmstrap.pipeline import StrapSession, new_session
from processing.episodes import EpisodeOnset
from storage.archive import Archive
from tests.support.mosquitto import Mosquitto, Subscriber


def _send(broker: Mosquitto, user: str, payload: dict[str, object], *, retain: bool = False) -> None:
    publish.single(
        f"calmstrap/{user}/command",
        json.dumps(payload),
        qos=1,
        retain=retain,
        hostname="127.0.0.1",
        port=broker.port,
    )


async def _until(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _sessions(
    broker: Mosquitto, archive: Archive, users: tuple[str, ...], time_scale: float = 1.0
) -> list[StrapSession]:
    env = {
        "CALMSTRAP_MQTT__URL": broker.url,
        "CALMSTRAP_POLICY__QUIET_HOURS": "0:00-0:00",
        "CALMSTRAP_POLICY__CONTROL_PROBABILITY": "0",  # every onset gets a prompt (none held back as a control)
    }
    cfg = load_config(None, env=env)
    chain = notifiers_for(cfg, ConsoleNotifier(stream=io.StringIO()), users=users, time_scale=time_scale)
    return [new_session(cfg, archive, chain, user=u, device=f"d-{u}") for u in users]


def _mqtt(session: StrapSession) -> MqttNotifier:
    n = session.notifiers[0]
    assert isinstance(n, MqttNotifier)
    return n


def _run(sessions: list[StrapSession], body: Callable[[], Awaitable[None]], time_scale: float = 1.0) -> None:
    async def main() -> None:
        async with alert_services(sessions, time_scale=time_scale):
            await _mqtt(sessions[0]).wait_connected(5)
            await body()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_retained_snooze_is_ignored_on_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 24 h snooze left retained on the broker does not snooze a later start; a fresh snooze works."""
    with Mosquitto(tmp_path / "m") as broker, Archive.in_dir(tmp_path / "data") as archive:
        _send(broker, "me", {"command": "snooze", "minutes": 1440}, retain=True)
        (session,) = _sessions(broker, archive, ("me",))
        mqtt = _mqtt(session)

        async def body() -> None:
            await _until(lambda: mqtt.stats.commands_stale == 1)
            assert session.policy.snooze_until == 0.0
            await asyncio.to_thread(
                _send, broker, "me", {"command": "snooze", "minutes": 30, "t": time.time()}
            )
            await _until(lambda: session.policy.snooze_until > 0.0)

        with caplog.at_level(logging.WARNING):
            _run([session], body)
    assert time.time() + 29 * 60 < session.policy.snooze_until < time.time() + 31 * 60
    assert any(
        "retained" in r.getMessage() and "calmstrap/me/command" in r.getMessage() for r in caplog.records
    )


def test_a_command_sent_over_a_minute_ago_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A snooze whose t is two minutes old is a WARNING and changes nothing."""
    with Mosquitto(tmp_path / "m") as broker, Archive.in_dir(tmp_path / "data") as archive:
        (session,) = _sessions(broker, archive, ("me",))
        mqtt = _mqtt(session)

        async def body() -> None:
            old = {"command": "snooze", "minutes": 60, "t": time.time() - 120.0}
            await asyncio.to_thread(_send, broker, "me", old)
            await _until(lambda: mqtt.stats.commands_stale == 1)

        with caplog.at_level(logging.WARNING):
            _run([session], body)
    assert session.policy.snooze_until == 0.0
    assert any("s ago" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_feedback_naming_another_users_prompt_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """u1's topic cannot set feedback on u0's prompt; u0's own topic can."""
    with Mosquitto(tmp_path / "m") as broker, Archive.in_dir(tmp_path / "data") as archive:
        u0, u1 = _sessions(broker, archive, ("u0", "u1"))
        t0 = time.time()
        prompt = u0.policy.on_onset(EpisodeOnset("ep", "u0", t0 - 60.0, t0, 95.0))
        assert isinstance(prompt, Prompt)

        def feedback() -> object:
            return archive.query("SELECT feedback_helped FROM prompts WHERE id = ?", (prompt.id,))[0][0]

        async def body() -> None:
            await u0.deliver(prompt)
            await asyncio.to_thread(
                _send, broker, "u1", {"command": "feedback", "prompt_id": prompt.id, "helped": True}
            )
            await asyncio.to_thread(
                _send, broker, "u1", {"command": "snooze", "minutes": 5}
            )  # a marker after it
            await _until(lambda: u1.policy.snooze_until > 0.0)
            assert feedback() is None
            await asyncio.to_thread(
                _send, broker, "u0", {"command": "feedback", "prompt_id": prompt.id, "helped": False}
            )
            await _until(lambda: feedback() is not None)

        with caplog.at_level(logging.WARNING):
            _run([u0, u1], body)
        assert feedback() == 0
    refusals = [r.getMessage() for r in caplog.records if "not one of u1's prompts" in r.getMessage()]
    assert len(refusals) == 1 and "calmstrap/u1/command" in refusals[0]


def test_twenty_practice_commands_give_one_practice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """20 practice commands at once: one stored practice session, no prompt at all; 19 refusals."""
    scale = 10.0  # a 30 s practice takes 3 s
    with Mosquitto(tmp_path / "m") as broker, Archive.in_dir(tmp_path / "data") as archive:
        (session,) = _sessions(broker, archive, ("me",), time_scale=scale)
        mqtt = _mqtt(session)
        sub = Subscriber(broker, ("calmstrap/me/prompt",))

        async def body() -> None:
            msgs = [
                ("calmstrap/me/command", json.dumps({"command": "practice", "minutes": 0.5}), 1, False)
            ] * 20
            await asyncio.to_thread(publish.multiple, msgs, hostname="127.0.0.1", port=broker.port)
            await _until(lambda: mqtt.stats.commands == 20)
            assert session.practice is not None
            await _until(lambda: session.practice is not None and session.practice.task.done())
            await asyncio.sleep(0.5)  # anything else in flight would arrive now

        with caplog.at_level(logging.WARNING):
            _run([session], body, time_scale=scale)
        sub.close()
        stored = archive.query("SELECT minutes, origin, completed FROM practice WHERE user = 'me'")
        prompts = archive.count("prompts")
    assert stored == [(0.5, "mqtt", 1)]
    assert prompts == 0 and sub.on("calmstrap/me/prompt") == []
    assert sum("already running" in r.getMessage() for r in caplog.records) == 19
