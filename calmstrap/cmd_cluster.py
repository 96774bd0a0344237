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
from dataclasses import dataclass, field
from typing import TypeVar, cast

import nats.errors
import nats.js.errors

from alerts.catalog import Prompt
from alerts.console import ConsoleNotifier
from alerts.mqtt import MqttNotifier
from calmstrap import cmd_sync
from calmstrap.alerting import build_notifiers
from calmstrap.config import Config, ConfigError, load_config
from calmstrap.pipeline import StrapSession, new_session
from calmstrap.session_state import SessionState, apply_state, state_of, without_config_tz
from calmstrap.sources import SourceChoiceError, plan_sources
from cluster import subjects as sj
from cluster.archiver import Archiver
from cluster.collector import Publisher
from cluster.connect import NatsSettings, connected, ensure_kv, ensure_streams, servers_of
from cluster.ops import UPDATES, RecordingArchive
from cluster.outbox import Outbox
from cluster.straps import Link, StrapLease
from cluster.worker import Inbound, Outbound, Worker
from processing import snapshot
from sensors.errors import SensorError
from sensors.source import BatteryLevel, BeatSource, Connected, Disconnected, MotionIntensity
from storage.archive import SERVICE_CACHE_MIB, Archive
from storage.lock import DataDirLock, DataDirLocked
from storage.progress import ProgressUpdater

log = logging.getLogger("calmstrap.cluster")
EXIT_CONFIG = 2
USER_STATE_KIND = "calmstrap.worker-user"
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
@dataclass(slots=True)
class SeqWindow:
    """One outbox's events for one device, put back in device order.

    The stream may hold a device's events out of order (a publish lost in a leader election and sent again
    after the next one was stored); an event after a hole waits here until the hole is filled, so the
    session sees exactly the order the strap sent. Events at or below ``floor`` were seen (resends). After
    ``max_held`` waiting events the hole is given up: they are released in order and it is logged.
    """

    floor: int = 0
    held: dict[int, Inbound] = field(default_factory=dict)
    max_held: int = 256

    def offer(self, ev: Inbound) -> list[Inbound]:
        """The events that can be processed now, in device order (none for a resend)."""
        if ev.dev_seq <= self.floor or ev.dev_seq in self.held:
            return []
        self.held[ev.dev_seq] = ev
        out: list[Inbound] = []
        while self.floor + 1 in self.held:
            self.floor += 1
            out.append(self.held.pop(self.floor))
        if len(self.held) > self.max_held:
            log.warning("%s: events %d.. never arrived; going on without them", ev.device, self.floor + 1)
            for seq in sorted(self.held):
                out.append(self.held.pop(seq))
                self.floor = seq
        return out


@dataclass(slots=True)
class DeviceState:
    device: str
    session: SessionState
    seqs: dict[str, SeqWindow]
    """Per outbox epoch (a collector's outbox file)."""
    first_t: float | None = None
    last_t: float | None = None
    link_events: bool = False
    last_epoch: str = ""
    """The outbox (collector) of the last notification processed (strap leases: :meth:`SessionHost._event`)."""


@dataclass(slots=True)
class UserState:
    user: str
    devices: list[DeviceState]


@dataclass(slots=True)
class _Live:
    session: StrapSession
    recorder: RecordingArchive
    seqs: dict[str, SeqWindow]
    first_t: float | None = None
    last_t: float | None = None
    link_events: bool = False
    last_epoch: str = ""


@dataclass(slots=True)
class SessionHost:
    """The sessions of one partition's users (cluster.worker.PartitionHost)."""

    cfg: Config
    seed: int = 0
    users: dict[str, dict[str, _Live]] = field(default_factory=dict)
    saved: dict[str, UserState] = field(default_factory=dict)

    def _new(self, user: str, device: str) -> _Live:
        rec = RecordingArchive()
        s = new_session(
            self.cfg, cast(Archive, rec), [], user=user, device=device, seed=self.seed, restore_baseline=False
        )
        s.checkpoint_every_s = math.inf  # the worker checkpoints into the key-value store instead
        s.progress_every_s = math.inf
        # weekly progress is recomputed from the archive, where it is: by the archiver
        s.refresh_progress = lambda: None  # type: ignore[method-assign]
        return _Live(s, rec, {})

    def restore(self, user: str, state: bytes | None) -> None:
        self.users[user] = {}
        if state is None:
            return
        us = snapshot.load(state, kind=USER_STATE_KIND)
        if not isinstance(us, UserState) or us.user != user:
            raise snapshot.SnapshotError("", f"not the worker state of {user}")
        for d in us.devices:
            live = self._new(user, d.device)
            apply_state(live.session, d.session)
            live.seqs, live.first_t, live.last_t, live.link_events, live.last_epoch = (
                d.seqs,
                d.first_t,
                d.last_t,
                d.link_events,
                d.last_epoch,
            )
            self.users[user][d.device] = live

    def dump(self, user: str) -> bytes:
        devices = [
            DeviceState(
                dev,
                state_of(lv.session, lv.last_t or math.nan),
                lv.seqs,
                lv.first_t,
                lv.last_t,
                lv.link_events,
                lv.last_epoch,
            )
            for dev, lv in self.users.get(user, {}).items()
        ]
        with without_config_tz(lv.session for lv in self.users.get(user, {}).values()):
            return snapshot.dump(UserState(user, devices), kind=USER_STATE_KIND)

    def forget(self, user: str) -> None:
        self.users.pop(user, None)

    async def handle(self, ev: Inbound) -> list[Outbound]:
        devices = self.users.setdefault(ev.user, {})
        live = devices.get(ev.device)
        if live is None:
            live = devices[ev.device] = self._new(ev.user, ev.device)
        out: list[Outbound] = []
        for e in live.seqs.setdefault(ev.epoch, SeqWindow()).offer(ev):
            out.extend(await self._event(live, e))
        return out

    async def _event(self, live: _Live, ev: Inbound) -> list[Outbound]:
        s, rec, t = live.session, live.recorder, ev.arrival_t
        match ev.kind:
            case sj.EventKind.NOTIFY:
                if live.last_epoch not in ("", ev.epoch) and live.last_t is not None:
                    # another collector took the strap over (cluster.straps): what it heard no later than
                    # the last notification processed is dropped (never a beat twice, never out of order),
                    # and the hand-over is a reconnection, so a notification both heard is dropped too
                    if t <= live.last_t:
                        return []
                    s.mark_disconnect(live.last_t)
                live.last_epoch = ev.epoch
                if live.first_t is None and not live.link_events:
                    rec.add_device_status(ev.user, ev.device, t, None, True)
                    live.first_t = t
                live.last_t = t
                await s.handle(t, ev.data)
            case sj.EventKind.DISCONNECTED:
                live.link_events = True
                s.mark_disconnect(t)
                rec.add_device_status(ev.user, ev.device, t, None, False)
            case sj.EventKind.CONNECTED:
                live.link_events = True
                rec.add_device_status(ev.user, ev.device, t, None, True)
            case sj.EventKind.BATTERY:
                rec.add_device_status(ev.user, ev.device, t, float(ev.data.decode()), None)
            case sj.EventKind.MOTION:
                s.on_motion(t, float(ev.data.decode()))
            case sj.EventKind.END:
                await s.finish()
                if live.first_t is not None and live.last_t is not None and not live.link_events:
                    rec.add_device_status(ev.user, ev.device, live.last_t, None, False)
                live.first_t = None
        base = f"{ev.device}:{ev.epoch}:{ev.dev_seq}"
        return [
            Outbound(sj.results_subject(ev.user, op.kind), f"{base}:{k}", op.encode(), op.name in UPDATES)
            for k, op in enumerate(rec.take())
        ]


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
