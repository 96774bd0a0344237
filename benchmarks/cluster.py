"""Cluster benchmarks (issue 14): end-to-end straps per worker, scaling 1 -> 3 workers side by side in one run,
failover time after a worker kill (kill -9) and after a NATS node kill.

Each run starts a fresh three-node cluster (``tests/support/nats.py``, loopback ports), fills the notification
stream with ``--users`` simulated straps x ``--minutes`` of notifications (one a second, published with the
collector's headers), then starts ``calmstrap worker`` subprocesses and times how long they take to process
and checkpoint everything (every partition consumer with nothing pending and nothing unacknowledged).
End to end = decode, beat clock, processing, policy, every output published to the results stream and
acknowledged, state checkpointed to the key-value store. Straps carried = notifications per second / 1 Hz.

Failover after a worker kill: the time from ``kill -9`` (or SIGTERM, a clean stop) until every partition it
held at that moment with work left is consumed again by another worker (after a kill its lease has to expire
first: ``lease_ttl_s``; after a clean stop it is handed back at once). After a node kill: the longest pause
in the results stream's growth after ``kill -9`` of one NATS node. Kills come ``KILL_AFTER_S`` after every
worker consumes; ``--lease-ttls 15,6`` repeats the failover runs per lease TTL. The load average is printed:
the machine is shared.

Run by hand: ``PYTHONPATH=. python benchmarks/cluster.py [--users 40 --minutes 12 --lease-ttls 15,6]``
(``CALMSTRAP_BENCH_LOGS=DIR`` keeps the workers' logs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster import subjects as sj
from cluster.connect import ensure_streams
from sensors.simulated import RRGenerator, ScriptedEpisode, notifications
from tests.support.nats import SERVICE_PASSWORD, SERVICE_USER, NatsCluster, running_cluster

START = 1_700_000_000.0
KILL_AFTER_S = 3.0
"""The kill comes this long after every worker consumes a partition (the work must outlast it)."""
KEEP_LOGS = os.environ.get("CALMSTRAP_BENCH_LOGS", "")
"""A directory to keep the workers' logs in (one folder per run)."""
REPO = Path(__file__).resolve().parents[1]


async def fill(cl: NatsCluster, users: int, minutes: float) -> int:
    nc = await nats.connect(cl.servers.split(","), user=SERVICE_USER, password=SERVICE_PASSWORD)
    js = nc.jetstream(timeout=30)
    await ensure_streams(js, 3)
    n = 0
    for u in range(users):
        gen = RRGenerator(seed=u, episodes=(ScriptedEpisode(start_s=360.0 + 5 * u % 120),))
        futs = []
        for seq, note in enumerate(notifications(gen, duration_s=minutes * 60.0), start=1):
            headers = {
                sj.HDR_MSG_ID: f"d{u}:bench:{seq}",
                sj.HDR_DEVICE: f"d{u}",
                sj.HDR_EPOCH: "bench",
                sj.HDR_SEQ: str(seq),
                sj.HDR_ARRIVAL: repr(START + note.t_s),
                sj.HDR_EVENT: str(sj.EventKind.NOTIFY),
            }
            futs.append(js.publish(sj.notify_subject(f"b{u}"), note.data, headers=headers))
            if len(futs) >= 500:
                await asyncio.gather(*futs)
                n += len(futs)
                futs = []
        await asyncio.gather(*futs)
        n += len(futs)
    await nc.close()
    return n


async def done(cl: NatsCluster, partitions: int) -> bool:
    nc = await nats.connect(cl.servers.split(","), user=SERVICE_USER, password=SERVICE_PASSWORD)
    try:
        infos = await nc.jetstream(timeout=10).consumers_info(sj.NOTIFY_STREAM)
    except Exception:
        return False
    finally:
        await nc.close()
    live = [c for c in infos if (c.name or "").startswith("p")]
    parts = {(c.name or "").split("-")[0] for c in live}
    return len(parts) == partitions and all(c.num_pending == 0 and c.num_ack_pending == 0 for c in live)


async def _quiet(exc: Exception) -> None:
    """A killed node refuses connections: expected here, not worth a traceback."""


async def results_last_seq(cl: NatsCluster) -> int:
    nc = await nats.connect(
        cl.servers.split(","),
        user=SERVICE_USER,
        password=SERVICE_PASSWORD,
        connect_timeout=1,
        error_cb=_quiet,
    )
    try:
        return int((await nc.jetstream(timeout=2).stream_info(sj.RESULTS_STREAM)).state.last_seq)
    finally:
        await nc.close()


def start_workers(
    cl: NatsCluster, k: int, logs: Path, lease_ttl_s: float | None = None
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    env = {key: v for key, v in os.environ.items() if not key.startswith("CALMSTRAP_")}
    env.update(cl.service_env())
    env["PYTHONPATH"] = str(REPO)
    if lease_ttl_s is not None:
        env["CALMSTRAP_NATS__LEASE_TTL_S"] = repr(lease_ttl_s)
    out = []
    for i in range(k):
        log = logs / f"worker{i}.log"
        with log.open("wb") as f:
            p = subprocess.Popen([sys.executable, "-m", "calmstrap", "worker"], env=env, stderr=f, stdout=f)
        out.append((p, log))
    return out


def stop(workers: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    for p, _ in workers:
        if p.poll() is None:
            p.terminate()
    for p, _ in workers:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def _stamp(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def held_at_kill(log: str, killed_at: float) -> set[str]:
    """The partitions the killed worker held when it died: taken and not handed back before the kill."""
    held: set[str] = set()
    for line in log.splitlines():
        if _stamp_or_none(line) is None or _stamp(line) > killed_at:
            continue
        if m := re.search(r"took partition (\d+)", line):
            held.add(m.group(1))
        elif m := re.search(r"handed back partition (\d+)", line):
            held.discard(m.group(1))
    return held


def _stamp_or_none(line: str) -> float | None:
    try:
        return _stamp(line)
    except ValueError:
        return None


def run(
    k: int,
    users: int,
    minutes: float,
    *,
    kill_worker: bool = False,
    kill_node: bool = False,
    term_worker: bool = False,
    lease_ttl_s: float | None = None,
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d, running_cluster(Path(d) / "nats") as cl:
        n = asyncio.run(fill(cl, users, minutes))
        t0 = time.monotonic()
        workers = start_workers(cl, k, Path(d), lease_ttl_s)
        kill_worker = kill_worker or term_worker
        out: dict[str, float] = {
            "notifications": float(n),
            "failover_s": float("nan"),
            "held": float("nan"),
            "resumed": float("nan"),
        }
        killed_at = None
        started: float | None = None
        last, last_change, longest_pause, grew = 0, time.monotonic(), 0.0, False
        try:
            while not asyncio.run(done(cl, 16)):
                now = time.monotonic()
                consuming = all("consuming from" in log.read_text() for _, log in workers)
                if consuming and started is None:
                    started = now
                due = started is not None and now - started > KILL_AFTER_S
                if kill_worker and killed_at is None and due:
                    if term_worker:
                        workers[0][0].terminate()  # a clean stop: checkpoint, hand the leases back
                    else:
                        workers[0][0].kill()
                    killed_at = time.time()
                if kill_node and killed_at is None and due:
                    last = asyncio.run(results_last_seq(cl))
                    cl.nodes[2].kill()
                    killed_at = time.time()
                    last_change = now
                if kill_node and killed_at is not None:
                    try:
                        seq = asyncio.run(results_last_seq(cl))
                    except Exception:
                        seq = last
                    if seq != last:
                        longest_pause = max(longest_pause, now - last_change)
                        last, last_change = seq, now
                        grew = True
                time.sleep(0.5)
            out["seconds"] = time.monotonic() - t0
            firsts = [
                _stamp(line)
                for _, log in workers
                for line in log.read_text().splitlines()
                if "consuming from" in line
            ]
            out["steady_seconds"] = time.time() - min(firsts) if firsts else float("nan")
            if kill_worker and killed_at is not None:
                held = held_at_kill(workers[0][1].read_text(), killed_at)
                resumed: dict[str, float] = {}
                for _, log in workers[1:]:
                    for line in log.read_text().splitlines():
                        m = re.search(r"partition (\d+): consuming from", line)
                        if m and m.group(1) in held and _stamp(line) > killed_at:
                            resumed.setdefault(m.group(1), _stamp(line))
                # a partition whose input was all processed and checkpointed before the kill is not
                # needed again before the end: only the ones with work left are taken over here
                out["failover_s"] = max(resumed.values()) - killed_at if resumed else float("nan")
                out["held"], out["resumed"] = float(len(held)), float(len(resumed))
            if kill_node:  # nan: the work was done before the results stream grew again
                out["failover_s"] = longest_pause if grew else float("nan")
        finally:
            stop(workers)
            if KEEP_LOGS:
                dest = (
                    Path(KEEP_LOGS)
                    / f"k{k}-w{int(kill_worker)}{int(term_worker)}-n{int(kill_node)}-{lease_ttl_s}"
                )
                dest.mkdir(parents=True, exist_ok=True)
                for _, log in workers:
                    shutil.copy(log, dest / log.name)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--skip-scaling", action="store_true", help="only the failover runs")
    ap.add_argument(
        "--lease-ttls", default="", help="comma-separated worker lease TTLs (s) for the failover runs"
    )
    args = ap.parse_args()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print(f"{args.users} straps x {args.minutes:g} min = one notification a second each, 16 partitions, R3")
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rates = {}
    for k in () if args.skip_scaling else (1, 3):
        r = run(k, args.users, args.minutes)
        rate = r["notifications"] / r["steady_seconds"]
        rates[k] = rate
        print(
            f"{k} worker(s): {r['notifications']:.0f} notifications in {r['seconds']:.1f} s from the workers' "
            f"start, {r['steady_seconds']:.1f} s from the first partition consumed = {rate:.0f}/s "
            f"-> {rate / k:.0f} straps per worker, {rate:.0f} in all"
        )
        print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if rates:
        print(f"scaling 1 -> 3 workers: x{rates[3] / rates[1]:.2f}")
    ttls: list[float | None] = [float(x) for x in args.lease_ttls.split(",") if x] or [None]
    for ttl in ttls:
        named = "default" if ttl is None else f"{ttl:g} s"
        for term in (False, True):
            w = run(3, args.users, args.minutes, kill_worker=True, term_worker=term, lease_ttl_s=ttl)
            print(
                f"worker {'SIGTERM' if term else 'kill -9'} (lease TTL {named}): it held {w['held']:.0f} "
                f"partitions; the {w['resumed']:.0f} with work left were consumed again after "
                f"{w['failover_s']:.1f} s (the last of them)"
            )
            print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        nd = run(3, args.users, args.minutes, kill_node=True, lease_ttl_s=ttl)
        print(
            f"node kill -9 (lease TTL {named}): longest pause of the results stream {nd['failover_s']:.1f} s"
        )
        print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
