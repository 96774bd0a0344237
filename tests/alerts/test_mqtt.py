"""The MQTT notifier against a real Mosquitto started by the test on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from alerts.catalog import CATALOG, Prompt
from alerts.commands import Snooze
from alerts.errors import MqttAuthError, MqttConnectError
from alerts.mqtt import MqttNotifier, MqttSettings
from alerts.notify import StrapStatus
from alerts.payloads import EPISODE_SCHEMA, PROMPT_SCHEMA, STATE_SCHEMA, prompt_payload
from processing.arousal import Arousal, ArousalState
from tests.support.mosquitto import Mosquitto, Subscriber, free_port, retained

REPO = Path(__file__).resolve().parents[2]


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def settings(broker: Mosquitto, **kw: Any) -> MqttSettings:
    kw.setdefault("reconnect_min_s", 0.05)
    kw.setdefault("reconnect_max_s", 0.3)
    return MqttSettings.from_url(broker.url, **kw)


def make_prompt(t: float, expiry_s: float = 120.0, n: int = 1, user: str = "me") -> Prompt:
    tpl = CATALOG[0]
    return Prompt(
        id=f"{user}-test-{n}",
        user=user,
        t=t,
        kind=tpl.kind,
        title=tpl.title,
        body=tpl.body,
        duration_s=tpl.duration_s,
        template_id=tpl.id,
        expires_t=t + expiry_s,
        reason_episode_id="ep-1",
        reason_score=97.5,
        inhale_s=tpl.inhale_s,
        hold_s=tpl.hold_s,
        exhale_s=tpl.exhale_s,
    )


def arousal(t: float, state: ArousalState = ArousalState.HIGH) -> Arousal:
    return Arousal(t, 96.0, 1.8, 1.5, -2.0, state, False, hr_bpm=88.0, rmssd_ms=21.5)


def conforms(value: object, schema: dict[str, Any]) -> list[str]:
    """Errors of ``value`` against a JSON Schema (draft 2020-12), by the jsonschema library."""
    validator = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]


def test_prompt_reaches_a_subscriber_as_json_matching_its_schema(broker: Mosquitto) -> None:
    """A prompt arrives on <base>/<user>/prompt as schema-valid JSON with an expiry interval."""
    with Subscriber(broker, ("calmstrap/+/prompt",)) as sub:

        async def main() -> bool:
            async with MqttNotifier(settings(broker), users=["me"]) as n:
                await n.wait_connected(5)
                return await n.send_prompt(make_prompt(time.time(), expiry_s=120.0))

        assert run(main()) is True
        got = sub.wait_for("calmstrap/me/prompt")
    assert len(got) == 1
    doc = json.loads(got[0].payload)
    assert conforms(doc, PROMPT_SCHEMA) == []
    assert doc["schema"] == "calmstrap.prompt/1"
    assert doc["breathing"] == {"inhale_s": 4.0, "hold_s": 0.0, "exhale_s": 6.0}
    assert doc["expires_t"] - doc["t"] == pytest.approx(120.0, abs=0.01)
    assert got[0].expiry_s is not None and 110 <= got[0].expiry_s <= 120


def test_schema_check_rejects_a_payload_missing_a_field() -> None:
    """The schemas are strict enough to fail: a missing field, a wrong kind, a non-integer duration."""
    good = prompt_payload(make_prompt(1000.0))
    assert conforms(good, PROMPT_SCHEMA) == []
    assert conforms({k: v for k, v in good.items() if k != "body"}, PROMPT_SCHEMA) != []
    assert conforms({**good, "kind": "lecture"}, PROMPT_SCHEMA) != []
    assert conforms({**good, "duration_s": 1.5}, PROMPT_SCHEMA) != []


def test_state_is_retained_for_a_late_subscriber(broker: Mosquitto) -> None:
    """The latest state is retained, schema-valid, with HR, RMSSD, score, state, battery and connection."""

    async def main() -> None:
        async with MqttNotifier(settings(broker), users=["me"]) as n:
            await n.wait_connected(5)
            await n.publish_state("me", arousal(time.time()), StrapStatus("strap-1", True, 80.0))
            await asyncio.sleep(0.2)

    run(main())
    raw = retained(broker, "calmstrap/me/state")
    assert raw is not None
    doc = json.loads(raw)
    assert conforms(doc, STATE_SCHEMA) == []
    assert (doc["hr_bpm"], doc["rmssd_ms"], doc["state"], doc["battery_pct"], doc["connected"]) == (
        88.0,
        21.5,
        "high",
        80.0,
        True,
    )


def test_state_is_published_at_most_every_five_seconds(broker: Mosquitto) -> None:
    """Calls every second publish one state per 5 s of pipeline time (and on a change of state)."""
    with Subscriber(broker, ("calmstrap/me/state",)) as sub:

        async def main() -> None:
            async with MqttNotifier(settings(broker), users=["me"]) as n:
                await n.wait_connected(5)
                t0 = 1_000_000.0
                for i in range(20):
                    await n.publish_state("me", arousal(t0 + i), None)
                await asyncio.sleep(0.3)

        run(main())
        assert len(sub.wait_for("calmstrap/me/state", 4, 2.0)) == 4


def test_status_online_then_last_will_offline_when_the_process_is_killed(broker: Mosquitto) -> None:
    """Retained status is online while connected; killing the process makes the broker publish offline."""
    script = (
        "import asyncio, sys\n"
        "from alerts.mqtt import MqttNotifier, MqttSettings\n"
        "async def main():\n"
        f"    async with MqttNotifier(MqttSettings.from_url({broker.url!r}), users=['killme']) as n:\n"
        "        await n.wait_connected(5)\n"
        "        await asyncio.sleep(0.2)\n"
        "        print('up', flush=True)\n"
        "        await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        with Subscriber(broker, ("calmstrap/killme/status",)) as sub:
            first = sub.wait_for("calmstrap/killme/status", 1)
            assert [m.payload for m in first] == [b"online"]
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
            got = sub.wait_for("calmstrap/killme/status", 2)
        assert [m.payload for m in got] == [b"online", b"offline"]
        assert retained(broker, "calmstrap/killme/status") == b"offline"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_clean_shutdown_publishes_offline(broker: Mosquitto) -> None:
    """Leaving ``async with`` marks every user offline (retained)."""

    async def main() -> None:
        async with MqttNotifier(settings(broker), users=["a"]) as n:
            await n.wait_connected(5)
            await n.publish_state("b", arousal(time.time()), None)

    run(main())
    assert retained(broker, "calmstrap/a/status") == b"offline"
    assert retained(broker, "calmstrap/b/status") == b"offline"


def test_broker_restart_delivers_prompts_within_expiry_and_drops_expired(broker: Mosquitto) -> None:
    """Broker down: prompts fall back (False), on restart the fresh one arrives, the expired one never."""
    with Subscriber(broker, ("calmstrap/me/#",), client_id="phone", persistent=True) as sub:

        async def main() -> MqttNotifier:
            async with MqttNotifier(settings(broker), users=["me"]) as n:
                await n.wait_connected(5)
                await n.publish_state("me", arousal(time.time(), ArousalState.CALM), None)
                broker.stop()
                await asyncio.sleep(0.2)
                now = time.time()
                assert await n.send_prompt(make_prompt(now, expiry_s=60.0, n=1)) is False
                assert await n.send_prompt(make_prompt(now, expiry_s=0.5, n=2)) is False
                await n.publish_state("me", arousal(now + 6), None)
                await asyncio.sleep(1.0)  # prompt 2 is now past its expiry
                broker.start()
                await n.wait_connected(5)
                await asyncio.sleep(0.3)
                return n

        n = run(main())
        got = sub.wait_for("calmstrap/me/prompt", 1, 5.0)
        time.sleep(0.3)
    ids = [json.loads(m.payload)["id"] for m in sub.on("calmstrap/me/prompt")]
    assert ids == ["me-test-1"]
    assert got[0].expiry_s is not None and got[0].expiry_s <= 59
    assert n.stats.prompts_dropped_expired == 1
    assert n.stats.connects == 2
    state = retained(broker, "calmstrap/me/state")
    assert state is not None and json.loads(state)["state"] == "high"


def test_broker_down_at_start_then_up(tmp_path: Path) -> None:
    """With no broker the notifier returns False at once and keeps retrying; once up, it connects."""
    port = free_port()
    broker = Mosquitto(tmp_path / "m", port=port)

    async def main() -> tuple[bool, float, MqttNotifier]:
        async with MqttNotifier(settings(broker), users=["me"]) as n:
            await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            ok = await n.send_prompt(make_prompt(time.time(), expiry_s=60.0))
            took = time.perf_counter() - t0
            assert isinstance(n.last_error, MqttConnectError)
            assert "connection refused" in str(n.last_error)
            broker.start()
            with Subscriber(broker, ("calmstrap/me/prompt",)) as sub:
                await n.wait_connected(5)
                assert await asyncio.to_thread(sub.wait_for, "calmstrap/me/prompt", 1, 5.0)
            return ok, took, n

    try:
        ok, took, n = run(main())
    finally:
        broker.stop()
    assert ok is False and took < 1.0  # at once, not after a connect timeout
    assert n.stats.prompts_resent == 1


def test_anonymous_connection_to_a_password_broker_says_a_password_is_required(tmp_path: Path) -> None:
    """Without credentials against a broker that requires them, the error says so."""
    with Mosquitto(tmp_path / "m", users={"calm": "s3cret-pw"}) as broker:

        async def main() -> None:
            async with MqttNotifier(settings(broker), users=["me"]) as n:
                await n.wait_connected(1.0)

        with pytest.raises(MqttAuthError) as info:
            run(main())
    assert info.value.anonymous
    assert "requires a username and password" in str(info.value)


def test_wrong_password_is_a_clear_error_and_the_right_one_connects(tmp_path: Path) -> None:
    """A wrong password names the username/password; the right one connects and delivers."""
    with Mosquitto(tmp_path / "m", users={"calm": "s3cret-pw"}) as broker:

        async def attempt(password: str) -> bool:
            s = settings(broker, username="calm", password=password)
            async with MqttNotifier(s, users=["me"]) as n:
                await n.wait_connected(1.0)
                return await n.send_prompt(make_prompt(time.time()))

        with pytest.raises(MqttAuthError) as info:
            run(attempt("wrong"))
        assert not info.value.anonymous
        assert "username and password" in str(info.value)
        assert "s3cret" not in str(info.value) and "wrong" not in str(info.value)
        assert run(attempt("s3cret-pw")) is True


def test_tls_with_a_test_ca_and_server_certificate(tmp_path: Path) -> None:
    """mqtts:// with the CA file verifies the broker's certificate and delivers."""
    with Mosquitto(tmp_path / "m", tls=True) as broker, Subscriber(broker, ("calmstrap/me/prompt",)) as sub:
        assert broker.tls_files is not None

        async def main() -> bool:
            s = settings(broker, ca_file=str(broker.tls_files.ca_cert))  # type: ignore[union-attr]
            async with MqttNotifier(s, users=["me"]) as n:
                await n.wait_connected(5)
                return await n.send_prompt(make_prompt(time.time()))

        assert run(main()) is True
        assert len(sub.wait_for("calmstrap/me/prompt")) == 1


def test_tls_without_the_ca_is_refused_as_unverified(tmp_path: Path) -> None:
    """Without the test CA the certificate cannot be verified: a clear connect error, no delivery."""
    with Mosquitto(tmp_path / "m", tls=True) as broker:

        async def main() -> None:
            async with MqttNotifier(settings(broker), users=["me"]) as n:
                await n.wait_connected(1.0)

        with pytest.raises(MqttConnectError) as info:
            run(main())
    assert "certificate verify failed" in str(info.value)


def test_tls_client_certificate(tmp_path: Path) -> None:
    """A broker that requires a client certificate accepts the one signed by the test CA."""
    with Mosquitto(tmp_path / "m", tls=True, require_client_cert=True) as broker:
        f = broker.tls_files
        assert f is not None

        async def main() -> bool:
            s = settings(
                broker, ca_file=str(f.ca_cert), cert_file=str(f.client_cert), key_file=str(f.client_key)
            )
            async with MqttNotifier(s, users=["me"]) as n:
                await n.wait_connected(5)
                return n.connected

        assert run(main()) is True


def test_malformed_commands_are_logged_with_their_topic_and_ignored(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad JSON, unknown commands and bad values are WARNINGs naming the topic; a valid one gets through."""
    import paho.mqtt.publish as publish

    bad = [
        b"{not json",
        b"[1, 2]",
        b'{"command": "dance"}',
        b'{"command": "snooze", "minutes": -5}',
        b"\xff\xfe",
    ]

    async def main() -> list[object]:
        async with MqttNotifier(settings(broker), users=["me"]) as n:
            await n.wait_connected(5)
            good = b'{"command":"snooze","minutes":30}'
            msgs: list[Any] = [("calmstrap/me/command", p, 1, False) for p in [*bad, good]]
            await asyncio.to_thread(publish.multiple, msgs, hostname="127.0.0.1", port=broker.port)
            it = n.commands()
            first = await asyncio.wait_for(anext(it), 5)
            assert n.stats.commands_ignored == len(bad)
            return [first]

    with caplog.at_level(logging.WARNING, logger="calmstrap.mqtt"):
        got = run(main())
    assert got == [Snooze("me", 30.0)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "command" in r.getMessage()]
    assert len(warnings) == len(bad)
    assert all("calmstrap/me/command" in r.getMessage() for r in warnings)


def test_discovery_payload_shape_and_republish_on_homeassistant_online(broker: Mosquitto) -> None:
    """Retained device discovery with five sensors and a prompt event; republished when HA comes online."""
    import paho.mqtt.publish as publish

    topic = "homeassistant/device/calmstrap_me/config"
    with Subscriber(broker, (topic,)) as sub:

        async def main() -> None:
            async with MqttNotifier(settings(broker), users=["me"]) as n:
                await n.wait_connected(5)
                await asyncio.to_thread(sub.wait_for, topic, 1)
                await asyncio.to_thread(
                    publish.single, "homeassistant/status", b"online", hostname="127.0.0.1", port=broker.port
                )
                await asyncio.to_thread(sub.wait_for, topic, 2)

        run(main())
        got = sub.on(topic)
    assert len(got) == 2
    cfg = json.loads(got[0].payload)
    assert cfg["dev"]["ids"] == ["calmstrap_me"]
    assert cfg["state_topic"] == "calmstrap/me/state"
    assert cfg["availability_topic"] == "calmstrap/me/status"
    comps = cfg["cmps"]
    sensors = {c["name"]: c for c in comps.values() if c["p"] == "sensor"}
    events = [c for c in comps.values() if c["p"] == "event"]
    assert set(sensors) == {"Heart rate", "RMSSD", "Arousal score", "Arousal state", "Strap battery"}
    assert sensors["Heart rate"]["value_template"] == "{{ value_json.hr_bpm }}"
    assert sensors["Strap battery"]["device_class"] == "battery"
    assert sensors["Arousal state"]["options"] == ["calm", "elevated", "high", "active", "settling"]
    assert len(events) == 1 and events[0]["state_topic"] == "calmstrap/me/prompt"
    assert "breathing" in events[0]["event_types"]
    assert len({c["unique_id"] for c in comps.values()}) == len(comps)
    assert retained(broker, topic) is not None


def test_expiry_interval_follows_the_time_scale(broker: Mosquitto) -> None:
    """In accelerated time the broker's expiry interval is the pipeline's remaining time / time_scale."""
    with Subscriber(broker, ("calmstrap/me/prompt",)) as sub:

        async def main() -> None:
            async with MqttNotifier(settings(broker), users=["me"], time_scale=10.0) as n:
                await n.wait_connected(5)
                assert await n.send_prompt(make_prompt(1_000_000.0, expiry_s=120.0))

        run(main())
        got = sub.wait_for("calmstrap/me/prompt")
    assert got[0].expiry_s is not None and math.isclose(got[0].expiry_s, 11, abs_tol=1)


def test_episode_onset_and_end_are_published_with_qos_1(broker: Mosquitto) -> None:
    """Onset and end events arrive on <base>/<user>/episode as schema-valid JSON."""
    from processing.episodes import Episode, EpisodeOnset

    t = time.time()
    onset = EpisodeOnset("me-1", "me", t - 60.0, t, 93.0)
    end = Episode(
        "me-1", "me", t - 60.0, t + 30.0, t + 300.0, 99.0, 3.1, 40.0, 2.9, 360.0, 270.0, 80.0, 500.0
    )
    with Subscriber(broker, ("calmstrap/me/episode",)) as sub:

        async def main() -> None:
            async with MqttNotifier(settings(broker), users=["me"]) as n:
                await n.wait_connected(5)
                await n.publish_episode("me", onset)
                await n.publish_episode("me", end)
                await asyncio.sleep(0.2)

        run(main())
        got = sub.wait_for("calmstrap/me/episode", 2)
    docs = [json.loads(m.payload) for m in got]
    assert [d["event"] for d in docs] == ["onset", "end"]
    assert all(conforms(d, EPISODE_SCHEMA) == [] for d in docs)
    assert docs[1]["duration_s"] == 360.0


def test_a_broker_that_lost_everything_gets_status_state_and_discovery_again(tmp_path: Path) -> None:
    """A restarted broker without persistence: retained status, state and discovery are republished."""
    broker = Mosquitto(tmp_path / "m", persistence=False)
    broker.start()
    try:

        async def main() -> None:
            async with MqttNotifier(settings(broker), users=["me"]) as n:
                await n.wait_connected(5)
                await n.publish_state("me", arousal(time.time()), None)
                await asyncio.to_thread(broker.restart)
                for _ in range(100):  # until the notifier has noticed the restart and is connected again
                    if n.stats.connects == 2 and n.connected:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.2)
                assert await asyncio.to_thread(retained, broker, "calmstrap/me/status") == b"online"
                state = await asyncio.to_thread(retained, broker, "calmstrap/me/state")
                assert state is not None and json.loads(state)["state"] == "high"
                config = await asyncio.to_thread(retained, broker, "homeassistant/device/calmstrap_me/config")
                assert config is not None
                assert n.stats.connects == 2

        run(main())
    finally:
        broker.stop()


def test_state_payload_carries_active_and_warm_up_progress() -> None:
    """The state payload names ``active`` and says how far the baseline's warm-up is, schema-valid."""
    from alerts.payloads import state_payload

    x = Arousal(
        0.0, 97.0, 1.9, 4.0, -1.0, ArousalState.ACTIVE, True, gated=True, hr_bpm=130.0, rmssd_ms=9.0,
        baseline_minutes=12.0, warmup_fraction=0.4,
    )  # fmt: skip
    doc = json.loads(json.dumps(state_payload("me", x, None)))
    assert conforms(doc, STATE_SCHEMA) == []
    assert (doc["state"], doc["warming_up"], doc["baseline_progress"], doc["baseline_minutes"]) == (
        "active",
        True,
        0.4,
        12.0,
    )
