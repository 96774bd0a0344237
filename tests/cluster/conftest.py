"""Fixtures for the cluster tests: a real three-node NATS cluster, recordings, and calmstrap subprocesses."""

from __future__ import annotations

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
import pytest
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


async def stored_headers(cl: NatsCluster, user: str) -> list[dict[str, str]]:
    """The headers of every collector message stored for ``user``, in stream order (read as the service)."""
    nc = await nats.connect(cl.servers.split(","), user=SERVICE_USER, password=SERVICE_PASSWORD)
    # the consumer's creation waits up to 30 s (default 5): right after the whole cluster restarted, on a
    # loaded machine, its replicated consumer may take longer to get a leader
    js = nc.jetstream(timeout=30.0)
    sub = await js.pull_subscribe(
        f"{sj.PARTITION_PREFIX}.*.{user}",
        stream=sj.NOTIFY_STREAM,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0),
    )
    out: list[dict[str, str]] = []
    while True:
        try:
            msgs = await sub.fetch(500, timeout=2.0)
        except (TimeoutError, nats.errors.TimeoutError):
            break
        for m in msgs:
            out.append(dict(m.headers or {}))
            await m.ack()
    await nc.close()
    return out
