"""Wiring of the alert path: notifier chain from the config, commands applied to a session."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import paho.mqtt.publish as publish

from alerts.console import ConsoleNotifier
from alerts.mqtt import MqttNotifier
from calmstrap.alerting import alert_services
from calmstrap.cli import notifiers_for
from calmstrap.config import load_config
from calmstrap.pipeline import new_session
from processing.episodes import EpisodeOnset
from storage.archive import Archive
from tests.support.mosquitto import Mosquitto, Subscriber


def test_notifier_chain_is_mqtt_then_console_only_when_a_url_is_set() -> None:
    """No mqtt.url: console only; with one: MQTT first, the console last."""
    console = ConsoleNotifier(stream=io.StringIO())
    assert notifiers_for(load_config(None, env={}), console) == [console]
    cfg = load_config(None, env={"CALMSTRAP_MQTT__URL": "mqtt://127.0.0.1:1"})
    chain = notifiers_for(cfg, console, users=("demo",), time_scale=60.0)
    assert isinstance(chain[0], MqttNotifier) and chain[1] is console
    assert chain[0].users == ("demo",) and chain[0].time_scale == 60.0


def test_commands_over_mqtt_snooze_store_feedback_and_run_a_practice(tmp_path: Path) -> None:
    """snooze moves the policy's snooze, feedback lands in the archive and the learner, a practice is one
    stored session and no prompt."""
    with Mosquitto(tmp_path / "m") as broker, Archive.in_dir(tmp_path / "data") as archive:
        cfg = load_config(
            None, env={"CALMSTRAP_MQTT__URL": broker.url, "CALMSTRAP_POLICY__QUIET_HOURS": "0:00-0:00"}
        )
        console = ConsoleNotifier(stream=io.StringIO())
        session = new_session(
            cfg, archive, notifiers_for(cfg, console, users=("me",), time_scale=60.0), user="me", device="d"
        )
        t0 = time.time()
        sub = Subscriber(broker, ("calmstrap/me/prompt",))

        def send(payload: dict[str, object]) -> None:
            publish.single(
                "calmstrap/me/command", json.dumps(payload), qos=1, hostname="127.0.0.1", port=broker.port
            )

        async def main() -> tuple[str, float]:
            async with alert_services([session], time_scale=60.0):
                prompt = session.policy.on_onset(EpisodeOnset("ep", "me", t0 - 60.0, t0, 95.0))
                assert prompt is not None
                await session.deliver(prompt)
                before = session.policy.learner.stats[prompt.kind].helped
                await asyncio.to_thread(send, {"command": "feedback", "prompt_id": prompt.id, "helped": True})
                await asyncio.to_thread(send, {"command": "snooze", "minutes": 45})
                await asyncio.to_thread(send, {"command": "practice", "minutes": 0.5})
                for _ in range(200):  # half a minute at 60x: the practice row comes after 0.5 s
                    if archive.query("SELECT 1 FROM practice WHERE user = 'me'"):
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
                return prompt.id, session.policy.learner.stats[prompt.kind].helped - before

        pid, gained = asyncio.run(asyncio.wait_for(main(), 30))
        sub.close()
        stored = archive.query("SELECT feedback_helped FROM prompts WHERE id = ?", (pid,))
    assert stored == [(1,)]
    assert gained == 2.0
    assert session.policy.snooze_until >= time.time() + 44 * 60.0  # no beats yet: the wall clock
    docs = [json.loads(m.payload) for m in sub.on("calmstrap/me/prompt")]
    assert [d["id"] for d in docs] == [pid]  # the practice sent no prompt
    rows = archive_rows(tmp_path / "data", "SELECT minutes, origin, completed FROM practice")
    assert rows == [(0.5, "mqtt", 1)]


def archive_rows(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with Archive.in_dir(data_dir) as ar:
        return ar.query(sql)


def test_learning_is_restored_from_the_archive_of_earlier_runs(tmp_path: Path) -> None:
    """Outcomes and feedback of earlier prompts warm-start the next run's learner."""
    from calmstrap.alerting import restore_learning
    from processing.outcomes import PromptOutcome

    cfg = load_config(None, env={"CALMSTRAP_POLICY__QUIET_HOURS": "0:00-0:00"})
    with Archive.in_dir(tmp_path) as archive:
        first = new_session(cfg, archive, [], user="me", device="d")
        p = first.policy.on_onset(EpisodeOnset("ep", "me", 1000.0, 1060.0, 95.0))
        assert p is not None
        archive.add_prompt(p, "mqtt")
        archive.set_prompt_outcome(PromptOutcome(p.id, 1240.0, 0.3, -4.0, -20.0, True, 20, 20))
        archive.set_prompt_feedback(p.id, True)
        archive.commit()
        second = new_session(cfg, archive, [], user="me", device="d")
        before = second.policy.learner.stats[p.kind].helped
        assert restore_learning(second) == 2
        assert second.policy.learner.stats[p.kind].helped == before + 1.0 + 2.0
        other = new_session(cfg, archive, [], user="someone_else", device="d")
        assert restore_learning(other) == 0
