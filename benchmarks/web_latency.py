"""Prompt decided -> shown on the person's page, in a real headless Chromium (run by hand; BENCHMARKS.md).

The service's own wiring (``plan_page``, ``page_service``, the notifier chain with the page hub, MQTT to a
Mosquitto started here on a free loopback port, the console) runs one user while the simulated strap feeds
it in real time (the event loop carries a live pipeline's load). Every ``--every`` seconds a breathing
prompt is sent through the pipeline's send path (``StrapSession.deliver``: archive write, then the side
channels, then MQTT). The archive commits as ``calmstrap run``'s do: grouped (``calmstrap.commit_group``,
every 100 ms, its background task running), so a prompt leaves at the group's next commit; ``--ungrouped``
commits each prompt at once (the path before grouped commits). For each prompt: the wall time it was
decided (``Prompt.t``, taken just before the send) to the wall time the page had rendered it (``Date.now()``
in the page, same machine clock), and, side by side, to the time a paho subscriber of
``calmstrap/me/prompt`` got it through Mosquitto (the peer: the path a Home Assistant phone notification
takes).

    PYTHONPATH=. python benchmarks/web_latency.py [--prompts 300] [--every 0.2] [--ungrouped]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import io
import os
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

from alerts.catalog import Prompt, by_id
from alerts.console import ConsoleNotifier
from calmstrap.alerting import alert_services
from calmstrap.cli import notifiers_for
from calmstrap.commit_group import CommitGroup
from calmstrap.config import load_config
from calmstrap.page import page_service, plan_page
from calmstrap.pipeline import new_session
from calmstrap.sources import consume_isolated
from sensors.simulated import SimulatedStrap
from storage.archive import Archive
from tests.support.mosquitto import Mosquitto
from tests.web.conftest import CHROMIUM_ARGS


class Subscriber:
    def __init__(self, port: int) -> None:
        self.got: dict[str, float] = {}
        self.ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        self.c.on_connect = lambda c, *_: c.subscribe("calmstrap/me/prompt", qos=1)
        self.c.on_subscribe = lambda *_: self.ready.set()
        self.c.on_message = self._msg
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _msg(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        import json

        self.got[json.loads(msg.payload)["id"]] = time.time()

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


async def run(
    n: int, every_s: float, broker: Mosquitto, data_dir: Path, *, grouped: bool = True
) -> tuple[list[float], list[float], int]:
    from playwright.async_api import async_playwright

    cfg = load_config(
        None, env={"CALMSTRAP_MQTT__URL": broker.url, "CALMSTRAP_POLICY__QUIET_HOURS": "0:00-0:00"}
    )
    plan = plan_page(cfg, "127.0.0.1:0", default_on=False)
    assert plan is not None
    sub = Subscriber(broker.port)
    sub.ready.wait(10)
    tpl = by_id("slow-breathing-6")
    with Archive.in_dir(data_dir) as archive:
        notifiers = [
            *notifiers_for(cfg, ConsoleNotifier(stream=io.StringIO()), users=("me",), page=plan),
        ]
        commits = CommitGroup(archive) if grouped else None
        session = new_session(
            cfg, archive, notifiers, user="me", device="sim-strap", restore_baseline=False, commits=commits
        )
        decided: dict[str, float] = {}
        strap = SimulatedStrap(seed=3, speed=1.0)
        async with (
            alert_services([session]),
            page_service(plan, cfg, [session], data_dir=data_dir, out=io.StringIO()),
            async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(plan.public_url)
            await page.wait_for_function("() => window.__calmstrap && window.__calmstrap.events > 0")
            feed = asyncio.create_task(consume_isolated(session, strap), name="strap:bench")
            committer = (
                None if commits is None else asyncio.create_task(commits.run(), name="archive-commits")
            )
            await asyncio.sleep(2.0)
            for i in range(n):
                t = time.time()
                p = Prompt(
                    id=f"me-bench-{i}",
                    user="me",
                    t=t,
                    kind=tpl.kind,
                    title=tpl.title,
                    body=tpl.body,
                    duration_s=tpl.duration_s,
                    template_id=tpl.id,
                    expires_t=t + 120.0,
                    inhale_s=tpl.inhale_s,
                    hold_s=tpl.hold_s,
                    exhale_s=tpl.exhale_s,
                )
                decided[p.id] = t
                await session.deliver(p)
                await asyncio.sleep(every_s)
            await asyncio.sleep(1.0)
            shown: dict[str, float] = await page.evaluate("() => window.__calmstrap.shown")
            feed.cancel()
            if committer is not None:
                committer.cancel()
            await browser.close()
    sub.close()
    page_ms = [1000.0 * (shown[k] / 1000.0 - decided[k]) for k in decided if k in shown]
    mqtt_ms = [1000.0 * (sub.got[k] - decided[k]) for k in decided if k in sub.got]
    return page_ms, mqtt_ms, len(decided)


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    chromium = subprocess.run(
        ["/usr/bin/chromium", "--version"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"starlette {importlib.metadata.version('starlette')}, uvicorn {importlib.metadata.version('uvicorn')}, "
        f"playwright {importlib.metadata.version('playwright')}, {chromium}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=300)
    ap.add_argument("--every", type=float, default=0.2)
    ap.add_argument("--ungrouped", action="store_true", help="commit each prompt at once (no commit group)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, Mosquitto(Path(d) / "m") as broker:
        page_ms, mqtt_ms, n = asyncio.run(
            run(args.prompts, args.every, broker, Path(d) / "data", grouped=not args.ungrouped)
        )
    print(machine())
    print(
        f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commits {'each prompt' if args.ungrouped else 'grouped'}"
    )
    print("| measure | n | p50 | p99 | max |")
    print("|---|---|---|---|---|")
    for name, xs in (
        ("prompt decided -> shown on the page (SSE, Chromium)", page_ms),
        ("peer: -> MQTT subscriber (Mosquitto)", mqtt_ms),
    ):
        print(
            f"| {name} | {len(xs)} of {n} | {pct(xs, 50):.1f} ms | {pct(xs, 99):.1f} ms | {max(xs):.1f} ms |"
        )
    print(
        f"ratio page/MQTT: p50 {pct(page_ms, 50) / pct(mqtt_ms, 50):.2f}x, p99 {pct(page_ms, 99) / pct(mqtt_ms, 99):.2f}x"
    )


if __name__ == "__main__":
    main()
