"""Acceptance of pushes in the demo: Apprise to a real loopback HTTP receiver beside a real Mosquitto."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.http_receiver import Receiver
from tests.support.mosquitto import Mosquitto, Subscriber, free_port

REPO = Path(__file__).resolve().parents[2]


def demo_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


def prompts_of(data: Path) -> list[tuple[str, float, float]]:
    with sqlite3.connect(data / "archive.db") as db:
        return db.execute("SELECT id, t, expires_t FROM prompts WHERE user = 'demo' ORDER BY t").fetchall()


def test_demo_with_a_page_pushes_each_prompt_as_json_with_its_link(tmp_path: Path) -> None:
    """``demo --web 127.0.0.1:PORT`` with ``notify.urls = json://...``: one POST per prompt, each with its link."""
    port = free_port()
    data = tmp_path / "d"
    # at 600x (was 120x) with the expiry 5x the default's 120 s: a push still has 1 wall second to arrive
    args = ["demo", "--speed", "600", "--web", f"127.0.0.1:{port}", "--data-dir", str(data)]
    with Receiver() as r:
        run = subprocess.run(
            [sys.executable, "-m", "calmstrap", *args],
            env=demo_env(CALMSTRAP_NOTIFY__URLS=r.url, CALMSTRAP_POLICY__EXPIRY_S="600"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        rows = prompts_of(data)
        got = r.wait_for(len(rows), 5.0)
    assert f"Your page: http://127.0.0.1:{port}/" in run.stdout
    assert rows, run.stdout
    assert len(got) == len(rows)
    by_id = {}
    for m in got:
        assert isinstance(m.doc, dict) and m.doc["title"] and m.doc["message"]
        for pid, _t, _e in rows:
            if f"http://127.0.0.1:{port}/?prompt={pid}" in m.doc["message"]:
                by_id[pid] = m
    assert sorted(by_id) == sorted(pid for pid, _t, _e in rows)


SPEED = 60.0
EXPIRY_S = 900.0  # 15 wall seconds at 60x
DOWN_WALL_S = 4.0


@pytest.mark.scenario
@pytest.mark.slow
def test_with_the_receiver_down_prompts_reach_mqtt_and_the_console_and_the_push_is_retried(
    tmp_path: Path,
) -> None:
    """Receiver down when the first prompt fires: MQTT has it at once, the summary lists it, and the push
    arrives after the receiver comes back, still within the prompt's expiry."""
    data = tmp_path / "d"
    r = Receiver()
    with Mosquitto(tmp_path / "mosquitto") as broker, Subscriber(broker, ("calmstrap/+/prompt",)) as sub:
        env = demo_env(
            CALMSTRAP_MQTT__URL=broker.url,
            CALMSTRAP_NOTIFY__URLS=r.url,
            CALMSTRAP_NOTIFY__RETRY_MIN_S="0.3",
            CALMSTRAP_NOTIFY__RETRY_MAX_S="1",
            CALMSTRAP_POLICY__EXPIRY_S=str(EXPIRY_S),
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "calmstrap", "demo", "--speed", str(SPEED), "--data-dir", str(data)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = sub.wait_for("calmstrap/demo/prompt", 1, 60.0)
            assert first, "no prompt on MQTT"
            first_mqtt_wall = first[0].wall_t
            time.sleep(DOWN_WALL_S)
            assert r.messages() == []
            r.start()
            up_wall = time.time()
            out, err = proc.communicate(timeout=90)
            got = r.wait_for(1, 5.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            r.stop()
    assert proc.returncode == 0, err
    doc = json.loads(first[0].payload)
    assert f"{doc['title']}" in out  # the console's summary lists the prompt
    pushed = [m for m in got if doc["body"] in m.doc["message"]]
    assert len(pushed) == 1
    assert up_wall <= pushed[0].wall_t < first_mqtt_wall + EXPIRY_S / SPEED
    assert "could not deliver" in err and doc["body"] not in err  # the retry is logged, the text is not
