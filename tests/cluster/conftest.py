"""Fixtures for the cluster tests: a real three-node NATS cluster, recordings, and calmstrap subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from cluster import subjects as sj
from sensors.simulated import RRGenerator, ScriptedEpisode
from tests.support.nats import SERVICE_PASSWORD, SERVICE_USER, NatsCluster, running_cluster

REPO = Path(__file__).resolve().parents[2]
NO_QUIET_HOURS = {
    "CALMSTRAP_POLICY__QUIET_HOURS": "00:00-00:00",
    # every onset prompts (none held back as a control): the comparisons need prompts
    "CALMSTRAP_POLICY__CONTROL_PROBABILITY": "0",
    # a personal baseline after 5 minutes (default 30), so a 12-minute recording has an episode: these
    # tests compare distributed with single-process results, not the baseline's science
    "CALMSTRAP_PROCESSING__BASELINE_MIN_MINUTES": "5",
}


def write_recording(path: Path, seed: int, minutes: float) -> Path:
    """A simulated RR recording (Kubios RR text) with one arousal episode after the baseline has warmed up."""
    g = RRGenerator(
        seed=seed,
        episodes=(ScriptedEpisode(start_s=390.0 + 7 * (seed % 20), plateau_s=240.0, intensity=1.2),),
    )
    lines = ["# simulated strap, calmstrap tests (sensors.simulated.RRGenerator)"]
    while g.t_s < minutes * 60.0:
        _, rr, _ = g.next_rr()
        lines.append(f"{rr:.0f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def calmstrap_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(NO_QUIET_HOURS)
    env.update(extra)
    return env


@dataclass
class Proc:
    """One calmstrap subprocess with its output in files."""

    name: str
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path

    def kill9(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return int(self.popen.returncode)

    def wait(self, timeout_s: float) -> int:
        return int(self.popen.wait(timeout=timeout_s))

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    procs: list[Proc] = []

    def start(name: str, *args: str, env: dict[str, str]) -> Proc:
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        out, err = logs / f"{name}.out", logs / f"{name}.err"
        with out.open("ab") as o, err.open("ab") as e:
            p = subprocess.Popen(
                [sys.executable, "-m", "calmstrap", *args],
                cwd=tmp_path,
                env=calmstrap_env(env),
                stdout=o,
                stderr=e,
                stdin=subprocess.DEVNULL,
            )
        proc = Proc(name, p, out, err)
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.stop(timeout_s=10)


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with running_cluster(tmp_path / "nats", edge_users=[f"u{i}" for i in range(20)]) as cl:
        yield cl


def wait_for(cond: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


async def _reading_consumer(
    nc: NATS, user: str, *, deadline_s: float = 240.0
) -> JetStreamContext.PullSubscription:
    """An ephemeral, unreplicated consumer over ``user``'s stored messages, created with retries.

    Right after the whole cluster restarted, on a loaded machine, the stream's and the meta group's leaders
    may take a while, and one creation request can go unanswered for its whole timeout (CI once waited 30 s
    for nothing): each attempt waits 20 s and a failed attempt is tried again until ``deadline_s``.
    """
    js = nc.jetstream(timeout=20.0)
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0, num_replicas=1, mem_storage=True
    )
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            sub: JetStreamContext.PullSubscription = await js.pull_subscribe(
                f"{sj.PARTITION_PREFIX}.*.{user}", stream=sj.NOTIFY_STREAM, config=config
            )
            return sub
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError, nats.js.errors.APIError):
            if time.monotonic() > give_up:
                raise
            await asyncio.sleep(1.0)


async def stored_headers(cl: NatsCluster, user: str) -> list[dict[str, str]]:
    """The headers of every collector message stored for ``user``, in stream order (read as the service)."""
    nc = await nats.connect(cl.servers.split(","), user=SERVICE_USER, password=SERVICE_PASSWORD)
    sub = await _reading_consumer(nc, user)
    out: list[dict[str, str]] = []
    while True:
        try:
            msgs = await sub.fetch(500, timeout=2.0)
        except (TimeoutError, nats.errors.TimeoutError):
            # a slow fetch is not the end: only a consumer with nothing left to deliver is
            if (await sub.consumer_info()).num_pending == 0:
                break
            continue
        for m in msgs:
            out.append(dict(m.headers or {}))
            await m.ack()
    await nc.close()
    return out
