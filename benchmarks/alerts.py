"""Alert-path benchmarks through a real Mosquitto (run by hand; results in BENCHMARKS.md).

1. Beat arrival to prompt on the broker: a full pipeline session (decoder, beat clock, stream processor,
   policy, archive, MQTT notifier) fed simulated strap notifications with many sustained episodes; for each
   prompt, the wall time from the start of ``StrapSession.handle`` for the notification that triggered it
   to a subscriber (same process, own TCP connection through Mosquitto) receiving it. The policy's
   deliberate onset hold (60 s of sustained arousal) is not counted: the clock starts at the beat that
   completes it. Cooldown and hourly cap are lifted so that every episode prompts. Peer: a bare paho
   client publishing QoS 1 to the same broker and subscriber (the floor the pipeline sits on).
2. State messages per second: one MqttNotifier (one process, one connection) publishing the retained state
   of N simulated users, round after round (5 s of pipeline time apart), counted at a subscriber.

    PYTHONPATH=. python benchmarks/alerts.py [--episodes 100] [--users 1000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import io
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.console import ConsoleNotifier
from alerts.mqtt import MqttNotifier, MqttSettings
from calmstrap.config import load_config
from calmstrap.pipeline import PipelineObserver, new_session
from processing.arousal import Arousal, ArousalState
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from storage.archive import Archive
from tests.support.mosquitto import Mosquitto


class Counter:
    """A subscriber that notes perf_counter() at every message, keyed by topic and payload."""

    def __init__(self, port: int, topic: str) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[bytes, float] = {}
        self.count = 0
        self.target = 0
        self.reached = threading.Event()
        self.ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        self.c.on_connect = lambda c, *_a: c.subscribe(topic, 1)
        self.c.on_subscribe = lambda *_a: self.ready.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.ready.wait(5)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        with self.lock:
            self.count += 1
            self.arrivals.setdefault(bytes(msg.payload), now)
            if self.target and self.count >= self.target:
                self.reached.set()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100.0 * (len(s) - 1))))]


async def prompt_latency(port: int, episodes: int) -> list[float]:
    env = {"CALMSTRAP_POLICY__COOLDOWN_MIN": "0", "CALMSTRAP_POLICY__MAX_PER_HOUR": "100000"}
    cfg = load_config(None, env=env)
    script = tuple(
        ScriptedEpisode(start_s=1200.0 + 600.0 * k, rise_s=40.0, plateau_s=150.0, recover_tau_s=40.0)
        for k in range(episodes)
    )
    notes = list(notifications(RRGenerator(seed=1, episodes=script), duration_s=1200.0 + 600.0 * episodes))
    sub = Counter(port, "bench/+/prompt")
    started: dict[str, float] = {}
    handle_start = 0.0

    def on_prompt(p: object, via: str) -> None:
        started[p.id] = handle_start  # type: ignore[attr-defined]

    mq = MqttNotifier(MqttSettings(host="127.0.0.1", port=port, base_topic="bench", homeassistant=False))
    with tempfile.TemporaryDirectory() as d, Archive.in_dir(d) as archive:
        async with mq:
            await mq.wait_connected(5)
            session = new_session(
                cfg,
                archive,
                [mq, ConsoleNotifier(stream=io.StringIO())],
                user="u",
                device="sim",
                observer=PipelineObserver(on_prompt=on_prompt),
                restore_baseline=False,
                ignore_quiet_hours=True,
            )
            t0 = 1.9e9
            for n in notes:
                handle_start = time.perf_counter()
                await session.handle(t0 + n.t_s, n.data)
            await asyncio.sleep(0.5)
    sub.close()
    import json

    out = []
    for payload, arrived in sub.arrivals.items():
        pid = json.loads(payload)["id"]
        if pid in started:
            out.append(arrived - started[pid])
    return out


def bare_paho_latency(port: int, n: int) -> list[float]:
    sub = Counter(port, "bare/+/prompt")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    sent: dict[bytes, float] = {}
    for i in range(n):
        payload = b'{"id":"%d","pad":"' % i + b"x" * 400 + b'"}'
        sent[payload] = time.perf_counter()
        c.publish("bare/u/prompt", payload, qos=1).wait_for_publish(2)
        time.sleep(0.002)
    time.sleep(0.3)
    c.disconnect()
    c.loop_stop()
    sub.close()
    return [sub.arrivals[p] - t for p, t in sent.items() if p in sub.arrivals]


async def state_rate(port: int, users: int, rounds: int) -> tuple[float, float, int, int]:
    sub = Counter(port, "load/+/state")
    mq = MqttNotifier(MqttSettings(host="127.0.0.1", port=port, base_topic="load", homeassistant=False))
    names = [f"user{i:04d}" for i in range(users)]
    async with mq:
        await mq.wait_connected(5)
        t = 1.9e9
        for u in names:  # warm-up: each user is announced (status) once
            await mq.publish_state(
                u, Arousal(t, 50.0, 0.0, 0.0, 0.0, ArousalState.CALM, False, False, 64.0, 42.0), None
            )
        await asyncio.sleep(0.5)
        base = sub.count
        with sub.lock:
            sub.target = base + users * rounds
        t0 = time.perf_counter()
        for r in range(1, rounds + 1):
            tr = t + 5.0 * r
            for i, u in enumerate(names):
                x = Arousal(
                    tr, 40.0 + i % 50, 0.1, 0.2, -0.1, ArousalState.CALM, False, False, 60.0 + i % 30, 40.0
                )
                await mq.publish_state(u, x, None)
            await asyncio.sleep(0)
        publish_s = time.perf_counter() - t0
        expected = users * rounds
        await asyncio.to_thread(sub.reached.wait, 30.0)
        deliver_s = time.perf_counter() - t0
        got = sub.count - base
    sub.close()
    return expected / publish_s, got / deliver_s, got, expected


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mosq = subprocess.run(["/usr/sbin/mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[
        0
    ]
    import os

    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, paho-mqtt {importlib.metadata.version('paho-mqtt')}, "
        f"{mosq}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, Mosquitto(Path(d)) as broker:
        print(f"machine: {machine()}")
        print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        bare = bare_paho_latency(broker.port, 500)
        lat = asyncio.run(prompt_latency(broker.port, args.episodes))
        pub_rate, recv_rate, got, expected = asyncio.run(state_rate(broker.port, args.users, args.rounds))
    ms = 1000.0
    print("| measure | n | p50 | p99 | max |")
    print("|---|---|---|---|---|")
    print(
        f"| beat arrival -> prompt at subscriber (pipeline + Mosquitto) | {len(lat)} | {pct(lat, 50) * ms:.2f} ms "
        f"| {pct(lat, 99) * ms:.2f} ms | {max(lat) * ms:.2f} ms |"
    )
    print(
        f"| peer: bare paho QoS 1 publish -> subscriber | {len(bare)} | {pct(bare, 50) * ms:.2f} ms "
        f"| {pct(bare, 99) * ms:.2f} ms | {max(bare) * ms:.2f} ms |"
    )
    print(
        f"ratio p50 pipeline / bare paho: {pct(lat, 50) / pct(bare, 50):.1f}x; mean {statistics.mean(lat) * ms:.2f} ms"
    )
    print(
        f"state messages, {args.users} users x {args.rounds} rounds: publish {pub_rate:,.0f}/s, "
        f"delivered to a subscriber {recv_rate:,.0f}/s ({got}/{expected} received); "
        f"needed for {args.users} users at one per 5 s: {args.users / 5:.0f}/s"
    )


if __name__ == "__main__":
    main()
