"""The ``calmstrap`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from alerts.catalog import Prompt, PromptKind
from alerts.console import ConsoleNotifier
from alerts.notify import Notifier
from calmstrap import __version__, cmd_sync
from calmstrap.alerting import alert_services, build_notifiers
from calmstrap.cli_args import user_id
from calmstrap.cmd_health import heartbeat
from calmstrap.commit_group import CommitGroup
from calmstrap.config import Config, ConfigError, load_config
from calmstrap.demo_baseline import calm_baseline
from calmstrap.heap import settle_heap
from calmstrap.page import PagePlan, page_service, plan_page
from calmstrap.pipeline import PipelineObserver, StrapSession, new_session
from calmstrap.preflight import check_services
from calmstrap.sources import SourceChoiceError, consume_isolated, plan_sources
from calmstrap.summary import StatusLine, format_control, format_summary
from processing.outcomes import ControlMoment
from sensors.errors import SensorError
from sensors.simulated import DEMO_CONTROL_MIN_MINUTES, SimulatedStrap, demo_script
from sensors.source import BeatSource
from storage.archive import SERVICE_CACHE_MIB, Archive
from storage.imports import recover_interrupted_imports
from storage.links import close_dangling_links
from storage.lock import DataDirLock, DataDirLocked

log = logging.getLogger("calmstrap")

EXIT_CONFIG = 2

# Further commands live in their own modules, each with ``register(subparsers, add_common_options)``.
COMMAND_MODULES: tuple[str, ...] = (
    "calmstrap.cmd_scan",
    "calmstrap.cmd_import",
    "calmstrap.cmd_sync",
    "calmstrap.cmd_export",
    "calmstrap.cmd_health",
    "calmstrap.cmd_answer",
    "calmstrap.cmd_cluster",
)
DEMO_USER = "demo"
USER_ID_OPTIONS = frozenset({"user", "label"})
"""Options of any command that take a user id (:mod:`sensors.ids`), checked by :func:`cli_args.user_id`."""


def _web_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--web",
        metavar="[HOST:]PORT",
        help=f"serve the person's page (live state, breathing pacer, answers) on this address; {default}. "
        "Any host but 127.0.0.1/::1/localhost needs a token ([web] token, else one is made and shown once)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the archive lives (default: the config's, else ~/.local/share/calmstrap)",
    )
    p.add_argument("--config", metavar="FILE", help="a calmstrap.toml (default: ./calmstrap.toml if present)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calmstrap",
        description="Chest-strap HRV biofeedback: beats in, a personal arousal score and calming prompts out.",
    )
    parser.add_argument("--version", action="version", version=f"calmstrap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo",
        help="run a simulated strap through the whole pipeline in accelerated time",
        description="Run a simulated strap (two scripted arousal episodes on a calm baseline) "
        "through the whole pipeline in accelerated time, then print a summary. The first episode's "
        "prompt is held back as a control (the moment later prompts are compared with), the second is "
        "prompted. Quiet hours do not apply to the demo; the previous demo's data (user 'demo') is replaced.",
    )
    _common(demo)
    demo.add_argument("--seed", type=int, default=1, help="seed of the simulated strap (default 1)")
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second (default 60)")
    demo.add_argument("--minutes", type=float, default=25.0, help="simulated minutes (default 25)")
    demo.add_argument(
        "--ignore-prompts",
        action="store_true",
        help="the simulated person ignores the prompts (by default they follow them, and it helps)",
    )
    _web_option(demo, "default: no page")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser(
        "run",
        help="run the service until Ctrl-C",
        description="Run the service: read beats from a source until Ctrl-C (or SIGTERM).",
    )
    _common(run)
    run.add_argument(
        "--source",
        default="ble",
        help="where beats come from: ble (default: the [[straps]] of the config, or the single strap a "
        "scan finds); sim (the simulated strap); replay:FILE (an RR file streamed as if live)",
    )
    run.add_argument(
        "--user",
        type=user_id,
        help="whose data this is (default: the configured [general] user; for --source sim: user 'sim', so "
        "simulated beats never land in a person's archive, baseline or dashboard)",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of the simulated strap (source sim)")
    run.add_argument(
        "--speed", type=float, default=1.0, help="recorded seconds per second (sources sim and replay)"
    )
    run.add_argument(
        "--start",
        type=float,
        default=None,
        metavar="EPOCH",
        help="sources sim and replay: start time (default now)",
    )
    _web_option(run, "default: [web] listen, 127.0.0.1:8421 (off: no page)")
    run.set_defaults(func=cmd_run)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub, _common)
    for command in sub.choices.values():  # every --user / --label of every command: one user-id check
        for action in command._actions:
            if action.dest in USER_ID_OPTIONS:
                action.type = user_id
    return parser


def _setup_logging(cfg: Config) -> None:
    logging.basicConfig(
        level=cfg.general.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _load(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config)
    check_services(cfg)  # every service setting checked before any data is touched (exit 2 naming the key)
    return cfg


def notifiers_for(
    cfg: Config,
    console: ConsoleNotifier,
    *,
    users: Sequence[str] = (),
    time_scale: float = 1.0,
    page: PagePlan | None = None,
) -> list[Notifier]:
    """The page and pushes beside the chain: MQTT when ``mqtt.url`` is set, the console always last."""
    link = page.public_url if page is not None else (cfg.web.public_url or None)
    hub = page.hub if page is not None else None
    return build_notifiers(cfg, console, users=users, time_scale=time_scale, hub=hub, link_base=link)


class _Stop(Exception):
    """Raised inside the task group to end every task when the sources are done or a signal came."""


async def _run_until_stopped(sessions: Sequence[tuple[StrapSession, BeatSource]]) -> bool:
    """Consume every source until they all end or SIGINT/SIGTERM; True when stopped by a signal."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    by_signal = False
    remaining = len(sessions)

    def on_signal() -> None:
        nonlocal by_signal
        by_signal = True
        stop.set()

    async def consume(session: StrapSession, source: BeatSource) -> None:
        nonlocal remaining
        try:
            await consume_isolated(session, source)  # one failing source never stops the others
        finally:
            remaining -= 1
            if remaining == 0:
                stop.set()

    async def stopper() -> None:
        await stop.wait()
        raise _Stop

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    try:
        async with asyncio.TaskGroup() as tg:
            for s, src in sessions:
                tg.create_task(consume(s, src), name=f"strap:{s.user}:{s.device}")
            tg.create_task(stopper(), name="stop")
    except* _Stop:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return by_signal


def _service_lock(data_dir: Path, command: str) -> DataDirLock | None:
    """The data dir's service lock, held; None (after saying why on stderr) when another service holds it."""
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        print(f"calmstrap {command}: {exc}", file=sys.stderr)
        return None
    return lock


def _recover(archive: Archive) -> None:
    """On start (holding the lock): remove imports a crash interrupted, close straps a crash left connected."""
    for d in recover_interrupted_imports(archive):
        log.warning("removed an interrupted import of %s (%d rows)", d.path, d.rows_removed)
    for gap in close_dangling_links(archive, time.time()):
        log.info(
            "%s (%s) was left connected by an earlier stop: recorded as disconnected, %.0f s gap to now",
            gap.device,
            gap.user,
            gap.duration_s,
        )


def follow_prompt(strap: SimulatedStrap, prompt: Prompt) -> None:
    """The demo's simulated person does what a prompt suggests (a recovery message asks for nothing)."""
    if prompt.kind is PromptKind.RECOVERY:
        return
    breath_per_min = None
    if prompt.inhale_s and prompt.exhale_s:
        breath_per_min = 60.0 / (prompt.inhale_s + (prompt.hold_s or 0.0) + prompt.exhale_s)
    strap.follow(prompt.t, min(float(prompt.duration_s), 300.0), breath_per_min)


def cmd_demo(args: argparse.Namespace) -> int:
    cfg = _load(args)
    _setup_logging(cfg)
    if args.minutes <= 0 or args.speed <= 0:
        print("calmstrap demo: --minutes and --speed must be > 0", file=sys.stderr)
        return EXIT_CONFIG
    data_dir = cfg.data_dir(args.data_dir)
    # the demo holds its first episode back as a control and prompts the later one (no random hold-back), so
    # one run always shows a prompt and has a moment to compare it with; with control_probability 0 or a
    # demo too short for both, the first episode is prompted
    control_first = cfg.policy.control_probability > 0 and args.minutes >= DEMO_CONTROL_MIN_MINUTES
    cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, control_probability=0.0))
    duration_s = args.minutes * 60.0
    start = float(int(time.time() - duration_s))
    strap = SimulatedStrap(
        seed=args.seed,
        speed=args.speed,
        duration_s=duration_s,
        episodes=demo_script(args.minutes, control_first=control_first),
        start_epoch=start,
        device="sim-strap",
    )
    status = StatusLine(sys.stdout, origin=start)
    console = ConsoleNotifier(clock_origin=start)
    lock = _service_lock(data_dir, "demo")
    if lock is None:
        return EXIT_CONFIG
    page = plan_page(cfg, args.web, default_on=False)
    print(f"calmstrap demo: {args.minutes:g} simulated minutes at {args.speed:g}x, seed {args.seed}")
    with lock, Archive.in_dir(data_dir, cache_mib=SERVICE_CACHE_MIB) as archive:
        archive.delete_user(DEMO_USER)
        archive.commit()
        _recover(archive)

        def on_prompt(prompt: Prompt, via: str) -> None:
            status.clear()
            if not args.ignore_prompts:
                follow_prompt(strap, prompt)

        def on_control(c: ControlMoment) -> None:
            status.clear()
            print(format_control(c, start))

        observer = PipelineObserver(on_arousal=status.update, on_prompt=on_prompt, on_control=on_control)
        session = new_session(
            cfg,
            archive,
            notifiers_for(cfg, console, users=(DEMO_USER,), time_scale=args.speed, page=page),
            user=DEMO_USER,
            device=strap.device,
            seed=args.seed,
            observer=observer,
            restore_baseline=False,
            ignore_quiet_hours=True,
            hold_back_first=control_first,  # the first episode a control: the second prompt has a comparison
        )
        # the person's baseline from a simulated calm half hour before the demo (calmstrap/demo_baseline.py)
        session.processor.baseline = calm_baseline(session.processor.config, seed=args.seed, end_t=start)
        calm_min = session.processor.baseline.collected_minutes
        stopped = asyncio.run(
            _session_main(
                [(session, strap)],
                cfg,
                archive,
                time_scale=args.speed,
                influx_wait_s=cmd_sync.FINAL_DRAIN_DEMO_S,
                influx_replace_user=DEMO_USER,
                page=page,
                data_dir=data_dir,
            )
        )
        status.clear()
        print(
            format_summary(
                session,
                origin=start,
                archive_path=archive.path,
                minutes=args.minutes,
                baseline_note=f"{calm_min:.0f} of them from a simulated calm half hour before the demo",
            )
        )
        ok = archive.integrity_ok()
    if not ok:
        print("archive integrity check failed", file=sys.stderr)
        return 1
    del stopped
    return 0


async def _session_main(
    pairs: Sequence[tuple[StrapSession, BeatSource]],
    cfg: Config | None = None,
    archive: Archive | None = None,
    *,
    time_scale: float = 1.0,
    influx_wait_s: float = 10.0,
    influx_replace_user: str | None = None,
    page: PagePlan | None = None,
    data_dir: Path | None = None,
    seed_now: float | None = None,
    heartbeat_dir: Path | None = None,
) -> bool:
    sessions = [s for s, _ in pairs]
    # with influx.url set, the archive drains into InfluxDB as data arrives (calmstrap/cmd_sync.py)
    async with (
        heartbeat(heartbeat_dir) if heartbeat_dir is not None else contextlib.nullcontext(),
        cmd_sync.background_sync(
            cfg, archive, final_timeout_s=influx_wait_s, replace_user=influx_replace_user
        ),
        alert_services(sessions, time_scale=time_scale),  # MQTT client and push lifetimes
        contextlib.AsyncExitStack() as stack,
    ):
        if page is not None and cfg is not None:  # the person's page (calmstrap/page.py)
            await stack.enter_async_context(
                page_service(
                    page,
                    cfg,
                    sessions,
                    data_dir=data_dir or Path("."),
                    time_scale=time_scale,
                    seed_now=seed_now,
                )
            )
        groups = {id(s.commits): s.commits for s, _ in pairs if s.commits is not None}
        committers = [asyncio.create_task(g.run(), name="archive-commits") for g in groups.values()]
        try:
            stopped = await _run_until_stopped(pairs)
            for s, _ in pairs:
                await s.finish()
        finally:
            for c in committers:
                c.cancel()
            for c in committers:
                with contextlib.suppress(asyncio.CancelledError):
                    await c
    return stopped


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args)
    _setup_logging(cfg)
    if args.speed <= 0:
        print("calmstrap run: --speed must be > 0", file=sys.stderr)
        return EXIT_CONFIG
    data_dir = cfg.data_dir(args.data_dir)
    try:
        plans, note = asyncio.run(
            plan_sources(args.source, cfg, seed=args.seed, speed=args.speed, user=args.user, start=args.start)
        )
    except (SourceChoiceError, SensorError) as exc:
        print(f"calmstrap run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    console = ConsoleNotifier(tz=cfg.tz())
    lock = _service_lock(data_dir, "run")
    if lock is None:
        return EXIT_CONFIG
    page = plan_page(cfg, args.web, default_on=True)
    with lock, Archive.in_dir(data_dir, cache_mib=SERVICE_CACHE_MIB) as archive:
        status = StatusLine(sys.stdout, origin=None, tz=cfg.tz())
        observer = PipelineObserver(on_arousal=status.update, on_prompt=lambda p, via: status.clear())
        pairs: list[tuple[StrapSession, BeatSource]] = []
        # one notifier chain (one MQTT connection) shared by every strap's session
        notifiers = notifiers_for(
            cfg, console, users=tuple(p.user for p in plans), time_scale=args.speed, page=page
        )
        commits = CommitGroup(archive)  # grouped commits across every strap (commit_group.COMMIT_EVERY_S)
        for plan in plans:
            session = new_session(
                cfg,
                archive,
                notifiers,
                user=plan.user,
                device=plan.device,
                seed=args.seed,
                observer=observer,
                commits=commits,
                resume=True,
            )
            if session.resumed_t is not None:
                log.info("%s (%s): resumed its saved state", plan.device, plan.user)
            pairs.append((session, plan.source))
        _recover(archive)
        settle_heap()  # the sessions are set up: their long-lived state out of the collector's sight
        log.info("running: %s; archive %s; Ctrl-C stops", note, archive.path)
        asyncio.run(
            _session_main(
                pairs,
                cfg,
                archive,
                time_scale=args.speed,
                page=page,
                data_dir=data_dir,
                seed_now=time.time(),
                heartbeat_dir=data_dir,
            )
        )
        status.clear()
        for session, _ in pairs:
            log.info(
                "stopped %s (%s): %d beats, %d gaps, %d prompts, %d episodes",
                session.device,
                session.user,
                session.stats.beats,
                session.stats.gaps,
                session.stats.prompts,
                session.stats.episodes,
            )
    failed = [s for s, _ in pairs if s.stats.error is not None]
    if failed:
        print(
            f"calmstrap run: {len(failed)} of {len(pairs)} strap(s) stopped on an error "
            f"(first: {failed[0].device}: {failed[0].stats.error})",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"calmstrap: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 0
