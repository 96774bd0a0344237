"""``calmstrap collect``, ``calmstrap worker``, ``calmstrap archive``: the clinic deployment on NATS JetStream.

The worker runs the very session code of ``run`` (``calmstrap.pipeline.StrapSession``) per user and
device; its archive is a :class:`cluster.ops.RecordingArchive`, so every archive write becomes a message
on the results stream, which ``calmstrap archive`` applies to a normal archive (and delivers prompts from).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors

from alerts.catalog import Prompt
from alerts.console import ConsoleNotifier
from alerts.mqtt import MqttNotifier
from calmstrap import cmd_sync
from calmstrap.alerting import build_notifiers
from calmstrap.config import Config, ConfigError, load_config
from calmstrap.heap import settle_heap
from calmstrap.sources import SourceChoiceError, plan_sources

# DeviceState, SeqWindow, UserState: snapshots written before calmstrap.worker_host existed name them here
from calmstrap.worker_host import DeviceState, SeqWindow, SessionHost, UserState  # noqa: F401
from cluster import subjects as sj
from cluster.archiver import Archiver
from cluster.collector import Publisher
from cluster.connect import NatsSettings, connected, ensure_kv, ensure_streams, servers_of
from cluster.outbox import Outbox
from cluster.straps import Link, StrapLease
from cluster.worker import Worker
from sensors.errors import SensorError
from sensors.source import BatteryLevel, BeatSource, Connected, Disconnected, MotionIntensity
from storage.archive import SERVICE_CACHE_MIB, Archive
from storage.lock import DataDirLock, DataDirLocked
from storage.progress import ProgressUpdater

log = logging.getLogger("calmstrap.cluster")
EXIT_CONFIG = 2
T = TypeVar("T")


def nats_settings(cfg: Config, name: str) -> NatsSettings:
    n = cfg.nats
    servers = servers_of(n.servers)
    if not servers:
        raise ConfigError("nats.servers", n.servers, "nats://host:port or tls://host:port URLs", "config")
    return NatsSettings(
        servers=tuple(servers),
        user=n.user,
        password=n.password,
        creds_file=n.creds_file,
        inbox_prefix=n.inbox_prefix,
        ca_file=n.ca_file,
        cert_file=n.cert_file,
        key_file=n.key_file,
        name=name,
        replicas=n.replicas,
        partitions=n.partitions,
    )


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


# -- collect ---------------------------------------------------------------------------------------------
async def _collect_source(outbox: Outbox, lease: StrapLease, source: BeatSource, wake: asyncio.Event) -> None:
    """One strap's events into the outbox while this collector holds the strap's lease."""
    user, device = lease.user, lease.device

    def silent(t: float) -> None:
        outbox.add(user, device, sj.EventKind.DISCONNECTED, t)
        wake.set()

    async with asyncio.TaskGroup() as tg:
        keeper = tg.create_task(lease.keep(silent), name=f"strap-lease:{user}:{device}")
        async for item in source.stream():
            t = item[0] if isinstance(item, tuple) else getattr(item, "t", math.nan)
            if not await lease.may_record(t):
                continue
            _record(outbox, user, device, item)
            wake.set()
        if lease.recording:
            outbox.add(user, device, sj.EventKind.END, 0.0)
            wake.set()
        keeper.cancel()
        await lease.release("the source ended")


def _record(outbox: Outbox, user: str, device: str, item: object) -> None:
    if isinstance(item, tuple):
        outbox.add(user, device, sj.EventKind.NOTIFY, item[0], item[1])
    elif isinstance(item, Disconnected):
        outbox.add(user, device, sj.EventKind.DISCONNECTED, item.t)
    elif isinstance(item, Connected):
        outbox.add(user, device, sj.EventKind.CONNECTED, item.t)
    elif isinstance(item, BatteryLevel):
        outbox.add(user, device, sj.EventKind.BATTERY, item.t, str(item.battery_pct).encode())
    elif isinstance(item, MotionIntensity):
        outbox.add(user, device, sj.EventKind.MOTION, item.t, repr(item.intensity_mg).encode())


async def collect_main(cfg: Config, args: argparse.Namespace) -> int:
    """Sources write the outbox from the first second, whether or not the cluster is reachable; the
    publisher connects (retrying forever) and drains it. Ends when every source ended and all is acked."""
    plans, note = await plan_sources(args.source, cfg, seed=args.seed, speed=args.speed, start=args.start)
    outbox_dir = cfg.nats.outbox_dir or str(cfg.data_dir(args.data_dir))
    stop = _stop_event()
    settings = nats_settings(cfg, "calmstrap-collect")
    with Outbox.in_dir(outbox_dir) as outbox:
        log.info("collecting: %s; %d events waiting in the outbox", note, outbox.count())
        wake, done = asyncio.Event(), asyncio.Event()
        stats: list[Publisher] = []
        link = Link()

        async def sources() -> None:
            async with asyncio.TaskGroup() as tg:
                for p in plans:
                    lease = StrapLease(
                        p.user,
                        p.device,
                        outbox.epoch,
                        link,
                        cfg.nats.strap_lease_ttl_s,
                        pending=lambda d=p.device: outbox.count(d),  # type: ignore[misc]
                    )
                    tg.create_task(
                        _collect_source(outbox, lease, p.source, wake),
                        name=f"strap:{p.user}:{p.device}",
                    )
            done.set()

        async def publish() -> None:
            async with connected(settings) as nc:
                link.set(nc)
                publisher = Publisher(nc.jetstream(), outbox)
                stats.append(publisher)
                await publisher.run(wake, done)

        async with asyncio.TaskGroup() as tg:
            src = tg.create_task(sources(), name="sources")
            pub = tg.create_task(publish(), name="publisher")
            stopper = tg.create_task(stop.wait(), name="stop")
            await asyncio.wait({pub, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for t in (src, pub, stopper):
                t.cancel()
        acked = stats[0].stats.acked if stats else 0
        dups = stats[0].stats.duplicates if stats else 0
        log.info(
            "collector: %d acknowledged (%d duplicates), %d still in the outbox", acked, dups, outbox.count()
        )
    return 0


# -- worker ----------------------------------------------------------------------------------------------


async def _until_set_up(who: str, make: Callable[[], Awaitable[T]]) -> T:
    """Streams and buckets created (or found) even when a fresh or loaded cluster answers slowly at first, or
    another process creates the same ones at the same moment: tried again with a growing random delay."""
    delay = 0.5
    while True:
        try:
            return await make()
        except (TimeoutError, nats.errors.Error, nats.js.errors.APIError) as exc:
            log.warning("%s: set-up failed (%s); retrying", who, exc)
            await asyncio.sleep(random.uniform(0.1, delay))
            delay = min(delay * 2, 5.0)


async def worker_main(cfg: Config, args: argparse.Namespace) -> int:
    settings = nats_settings(cfg, "calmstrap-worker")
    stop = _stop_event()
    async with connected(settings) as nc:
        js = nc.jetstream(timeout=10.0)
        await _until_set_up(
            "worker",
            lambda: ensure_streams(js, settings.replicas, strap_lease_ttl_s=cfg.nats.strap_lease_ttl_s),
        )
        leases = await _until_set_up(
            "worker",
            lambda: ensure_kv(js, sj.LEASES_BUCKET, replicas=settings.replicas, ttl_s=cfg.nats.lease_ttl_s),
        )
        state = await _until_set_up(
            "worker", lambda: ensure_kv(js, sj.STATE_BUCKET, replicas=settings.replicas, ttl_s=None)
        )
        worker = Worker(
            js,
            leases,
            state,
            lambda p: SessionHost(cfg, seed=args.seed),
            settings.partitions,
            checkpoint_every_s=cfg.nats.checkpoint_every_s,
            lease_ttl_s=cfg.nats.lease_ttl_s,
        )
        await worker.run(stop)
        log.info(
            "worker %s: %d processed, %d replayed skipped, %d outputs, %d checkpoints",
            worker.worker_id,
            worker.stats.processed,
            worker.stats.skipped_replayed,
            worker.stats.outputs,
            worker.stats.checkpoints,
        )
    return 0


# -- archive ---------------------------------------------------------------------------------------------
def _deliverer(cfg: Config) -> tuple[Callable[[Prompt], object], list[MqttNotifier]]:
    notifiers = build_notifiers(cfg, ConsoleNotifier())

    async def deliver(p: Prompt) -> str:
        for n in notifiers:
            try:
                if await n.send_prompt(p):
                    return n.name
            except Exception:  # a notifier must never stop the archiver
                log.exception("notifier %s failed", n.name)
        return "none"

    return deliver, [n for n in notifiers if isinstance(n, MqttNotifier)]


async def archive_main(cfg: Config, args: argparse.Namespace) -> int:
    settings = nats_settings(cfg, "calmstrap-archive")
    stop = _stop_event()
    deliver, mqtt = _deliverer(cfg)
    data_dir = cfg.data_dir(args.data_dir)
    try:  # one writer per archive: the same service lock as run
        lock = DataDirLock(data_dir)
        lock.acquire()
    except DataDirLocked as exc:
        print(f"calmstrap archive: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    with lock, Archive.in_dir(data_dir, cache_mib=SERVICE_CACHE_MIB) as archive:
        async with contextlib.AsyncExitStack() as stack:
            for c in mqtt:
                await stack.enter_async_context(c)
            await stack.enter_async_context(cmd_sync.background_sync(cfg, archive))
            nc = await stack.enter_async_context(connected(settings))
            js = nc.jetstream(timeout=10.0)
            await _until_set_up(
                "archiver",
                lambda: ensure_streams(js, settings.replicas, strap_lease_ttl_s=cfg.nats.strap_lease_ttl_s),
            )
            archiver = Archiver(
                js,
                archive,
                deliver=None if args.no_deliver else deliver,  # type: ignore[arg-type]
                refresh_progress=ProgressUpdater.of(archive, cfg.tz()).update,
            )
            await archiver.run(stop.is_set)
            log.info(
                "archiver: %d results applied, %d prompts delivered, %d expired",
                archiver.stats.applied,
                archiver.stats.delivered,
                archiver.stats.expired,
            )
    return 0


# -- CLI -------------------------------------------------------------------------------------------------
def _run(main: Callable[[Config, argparse.Namespace], object]) -> Callable[[argparse.Namespace], int]:
    def cmd(args: argparse.Namespace) -> int:
        cfg = load_config(args.config)
        logging.basicConfig(
            level=cfg.general.log_level,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        settle_heap()  # a long-running service: the start-up's objects out of the collector's sight
        try:
            return int(asyncio.run(main(cfg, args)))  # type: ignore[arg-type]
        except (SourceChoiceError, SensorError) as exc:
            print(f"calmstrap {args.command}: {exc}", file=sys.stderr)
            return EXIT_CONFIG

    return cmd


def register(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:  # type: ignore[type-arg]
    c = sub.add_parser(
        "collect",
        help="clinic: read straps at the edge and publish every notification to the NATS cluster",
        description="Read the sources run has (ble, sim, replay:FILE) and publish each raw notification to "
        "the cluster's [nats] servers, through a local outbox that keeps everything not yet acknowledged.",
    )
    common(c)
    c.add_argument("--source", default="ble", help="ble (default), sim or replay:FILE, as for run")
    c.add_argument("--seed", type=int, default=0, help="seed of the simulated strap (source sim)")
    c.add_argument("--speed", type=float, default=1.0, help="recorded seconds per second (sim, replay)")
    c.add_argument(
        "--start", type=float, default=None, metavar="EPOCH", help="sim, replay: start time (default now)"
    )
    c.set_defaults(func=_run(collect_main))
    w = sub.add_parser(
        "worker",
        help="clinic: process partitions of users from the NATS cluster (any number of workers)",
        description="Take partitions through leases, run each user's session as run does, checkpoint, and "
        "publish every output to the results stream.",
    )
    common(w)
    w.add_argument("--seed", type=int, default=0, help="seed of each user's prompt choice (as run --seed)")
    w.set_defaults(func=_run(worker_main))
    a = sub.add_parser(
        "archive",
        help="clinic: the results stream into the archive (and InfluxDB); delivers prompts",
        description="Apply the cluster's results stream to the archive in --data-dir, exactly once, and "
        "deliver each prompt once (MQTT when mqtt.url is set, else the console).",
    )
    common(a)
    a.add_argument(
        "--no-deliver", action="store_true", help="archive only; another archiver delivers prompts"
    )
    a.set_defaults(func=_run(archive_main))
