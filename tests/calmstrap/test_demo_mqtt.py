"""Acceptance of the MQTT alert path: ``calmstrap demo`` against a real Mosquitto on loopback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto, Received, Subscriber, retained

REPO = Path(__file__).resolve().parents[2]


def demo_env(broker: Mosquitto, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env.update(PYTHONPATH=str(REPO), CALMSTRAP_MQTT__URL=broker.url, **extra)
    return env


def test_demo_delivers_a_prompt_and_leaves_retained_state(tmp_path: Path) -> None:
    """The demo's prompts reach a subscriber of calmstrap/+/prompt; the demo user's state stays retained."""
    with Mosquitto(tmp_path / "mosquitto") as broker, Subscriber(broker, ("calmstrap/+/prompt",)) as sub:
        r = subprocess.run(
            [sys.executable, "-m", "calmstrap", "demo", "--speed", "600", "--data-dir", str(tmp_path / "d")],
            env=demo_env(broker),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        got = sub.wait_for("calmstrap/demo/prompt", 1, 5.0)
        assert got, r.stdout + r.stderr
        doc = json.loads(got[0].payload)
        assert doc["schema"] == "calmstrap.prompt/1" and doc["user"] == "demo"
        state = retained(broker, "calmstrap/demo/state")
        assert state is not None
        s = json.loads(state)
        assert s["schema"] == "calmstrap.state/1" and s["user"] == "demo" and s["hr_bpm"] > 30
        assert retained(broker, "calmstrap/demo/status") == b"offline"


SPEED = 40.0
MINUTES = 30.0
EXPIRY_S = 600.0  # 15 wall seconds at 40x
OUTAGE_WALL_S = 30.0


@pytest.mark.scenario
@pytest.mark.slow
def test_broker_outage_mid_demo_never_delivers_late_and_delivers_what_is_still_useful(tmp_path: Path) -> None:
    """Broker down 30 s mid-demo: the demo finishes; prompts expired meanwhile never arrive; the rest do.

    The demo runs 40x faster than the wall clock; the outage is wall-clock. Simulated times are mapped to
    wall times with the live state messages (simulated ``t`` received at a wall time), so "late" is judged
    on the pipeline's own clock, as the notifier does.
    """
    data = tmp_path / "d"
    with Mosquitto(tmp_path / "mosquitto") as broker:
        sub = Subscriber(
            broker, ("calmstrap/+/prompt", "calmstrap/demo/state"), client_id="phone", persistent=True
        )
        env = demo_env(
            broker,
            CALMSTRAP_POLICY__EXPIRY_S=str(EXPIRY_S),
            CALMSTRAP_POLICY__COOLDOWN_MIN="0",
            CALMSTRAP_POLICY__MAX_PER_HOUR="20",
            CALMSTRAP_POLICY__CONTROL_PROBABILITY="0",  # the first episode is prompted (no control)
            CALMSTRAP_MQTT__RECONNECT_MIN_S="0.2",
            CALMSTRAP_MQTT__RECONNECT_MAX_S="1",
        )
        args = ["demo", "--speed", str(SPEED), "--minutes", str(MINUTES), "--data-dir", str(data)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "calmstrap", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = sub.wait_for("calmstrap/demo/state", 1, 20.0)
            assert first, "no state from the demo"
            t_first = json.loads(first[0].payload)["t"]
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:  # stop the broker at about simulated minute 8
                live = [json.loads(m.payload)["t"] for m in sub.on("calmstrap/demo/state") if not m.retain]
                if live and live[-1] - t_first >= 420.0:
                    break
                time.sleep(0.05)
            broker.stop()
            stop_wall = time.time()
            time.sleep(OUTAGE_WALL_S)
            broker.start()
            restart_wall = time.time()
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        time.sleep(0.5)
        sub.close()
    assert proc.returncode == 0, err
    assert "Summary" in out

    # simulated time = SPEED * wall + offset, from live state messages (the earliest-arriving bound)
    states = [m for m in sub.messages if m.topic == "calmstrap/demo/state" and not m.retain]
    offset = max(float(json.loads(m.payload)["t"]) - SPEED * m.wall_t for m in states)

    def sim(wall: float) -> float:
        return SPEED * wall + offset

    with sqlite3.connect(data / "archive.db") as db:
        rows = db.execute("SELECT id, t, expires_t FROM prompts WHERE user = 'demo' ORDER BY t").fetchall()
    arrived: dict[str, Received] = {}
    for m in sub.messages:
        if m.topic == "calmstrap/demo/prompt":
            arrived.setdefault(json.loads(m.payload)["id"], m)
    tolerance_s = 0.3 * SPEED  # wall-clock jitter of the mapping, in simulated seconds
    for pid, m in arrived.items():
        expires_t = json.loads(m.payload)["expires_t"]
        assert sim(m.wall_t) <= expires_t + tolerance_s, f"prompt {pid} arrived after its expiry"

    back_sim = sim(restart_wall) + 2.0 * SPEED  # the notifier reconnects within its 1 s backoff (+ slack)
    expired_in_outage = [r for r in rows if sim(stop_wall) < r[1] and r[2] < sim(restart_wall)]
    queued_and_useful = [r for r in rows if sim(stop_wall) < r[1] < sim(restart_wall) and r[2] > back_sim]
    sent_while_up = [r for r in rows if r[1] < sim(stop_wall) - tolerance_s or r[1] > back_sim]
    assert expired_in_outage, f"the test needs a prompt that expires during the outage: {rows}"
    assert queued_and_useful, f"the test needs a prompt still useful after the outage: {rows}"
    for pid, _t, _e in expired_in_outage:
        assert pid not in arrived, f"expired prompt {pid} was delivered"
    for pid, _t, _e in queued_and_useful + sent_while_up:
        assert pid in arrived, f"prompt {pid} within its expiry never arrived"


def test_demo_runs_with_the_broker_down_and_prompts_on_the_console(tmp_path: Path) -> None:
    """No broker on the configured port: the demo runs to the end, prompts print, the error is a WARNING."""
    from tests.support.mosquitto import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env.update(PYTHONPATH=str(REPO), CALMSTRAP_MQTT__URL=f"mqtt://127.0.0.1:{free_port()}")
    r = subprocess.run(
        [sys.executable, "-m", "calmstrap", "demo", "--speed", "600", "--data-dir", str(tmp_path / "d")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert ">> " in r.stdout and "Summary" in r.stdout
    assert "connection refused" in r.stderr and "Traceback" not in r.stderr
    with sqlite3.connect(tmp_path / "d" / "archive.db") as db:
        vias = {v for (v,) in db.execute("SELECT delivered_via FROM prompts")}
    assert vias == {"console"}
