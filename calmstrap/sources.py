"""Beat sources for ``calmstrap run``: which ones, and how a session consumes one.

``--source sim`` (the simulated strap), ``--source ble`` (every ``[[straps]]`` entry, or the single strap
a scan finds), ``--source replay:FILE`` (an RR file streamed as if live). A source is any object with an
async ``stream()`` yielding notifications ``(arrival epoch s, bytes)`` and strap events
(:mod:`sensors.source`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from calmstrap.config import Config, StrapConfig
from calmstrap.pipeline import StrapSession
from sensors.ble import BleCollector, FoundStrap, StrapTarget, describe_found
from sensors.replay import ReplaySource, read_rr_file
from sensors.source import (
    BatteryLevel,
    BeatSource,
    Connected,
    Disconnected,
    LowBattery,
    MotionIntensity,
    SourceItem,
)

log = logging.getLogger("calmstrap.sources")


class SourceChoiceError(ValueError):
    """``--source`` cannot be used as given; the message says why and what to do."""


@dataclass(frozen=True)
class PlannedSource:
    """One source to run, for one user, under a device label."""

    user: str
    device: str
    source: BeatSource


def ble_plan(
    cfg: Config, found: Sequence[FoundStrap] | None = None, user: str | None = None
) -> tuple[list[PlannedSource], str]:
    """Collectors for the ``[[straps]]`` entries; with none, the single strap ``found`` by a scan.

    Returns the plan and a sentence for the user saying what was chosen.
    """
    straps: Sequence[StrapConfig] = cfg.straps
    note = ""
    if not straps:
        found = list(found or ())
        if not found:
            raise SourceChoiceError(
                "no strap found: wear it (a strap sleeps when dry), move closer, and check `calmstrap scan`"
            )
        if len(found) > 1:
            raise SourceChoiceError(
                "several straps found; add a [[straps]] entry (user and address) for each to use:\n"
                + describe_found(found)
            )
        only = found[0]
        who = user or cfg.general.user
        straps = (StrapConfig(user=who, address=only.address, name=only.name),)
        note = (
            f"no [[straps]] configured: using the only strap found, {only.name or '?'} ({only.address}), "
            f"for user {who!r}"
        )
    plan = [
        PlannedSource(
            user=s.user,
            device=s.address or s.name,
            source=BleCollector(StrapTarget(address=s.address, name=s.name), motion=s.motion),
        )
        for s in straps
    ]
    return plan, note


SIM_USER = "sim"
"""Whose data ``--source sim`` writes unless ``--user`` says otherwise: never the configured person's."""


def replay_plan(
    cfg: Config, path: str, speed: float, user: str | None = None, start: float | None = None
) -> PlannedSource:
    """An RR file streamed as if live (raises ReplayFormatError on a bad line); ``start``: its first epoch s."""
    rec = read_rr_file(path)
    return PlannedSource(
        user=user or cfg.general.user,
        device=f"replay:{Path(path).name}",
        source=ReplaySource(rec, speed=speed, start_t=start),
    )


def _stream(source: BeatSource) -> AsyncIterator[SourceItem]:
    return source.stream()


async def consume_source(session: StrapSession, source: BeatSource) -> None:
    """Feed one source into its session: notifications to ``handle``, disconnects as gaps, status rows.

    A source that reports no link events of its own (the simulated strap, file replay) gets a
    ``device_status`` row "connected" at its first notification and "disconnected" at its last.
    """
    stream = _stream(source)
    link_events = False
    first_t: float | None = None
    last_t: float | None = None
    try:
        async for item in stream:
            if isinstance(item, tuple):
                if first_t is None and not link_events:
                    session.archive.add_device_status(session.user, session.device, item[0], None, True)
                    first_t = item[0]
                last_t = item[0]
                await session.handle(item[0], item[1])
            elif isinstance(item, Disconnected):
                link_events = True
                session.mark_disconnect(item.t)
                session.archive.add_device_status(session.user, session.device, item.t, None, False)
                session.archive.commit()
            elif isinstance(item, Connected):
                link_events = True
                session.archive.add_device_status(session.user, session.device, item.t, None, True)
                session.archive.commit()
            elif isinstance(item, BatteryLevel):
                session.archive.add_device_status(
                    session.user, session.device, item.t, item.battery_pct, None
                )
                session.archive.commit()
            elif isinstance(item, LowBattery):
                log.warning(
                    "%s (%s): battery low, %d%%: charge or replace it soon",
                    session.device,
                    session.user,
                    item.battery_pct,
                )
            elif isinstance(item, MotionIntensity):
                session.on_motion(item.t, item.intensity_mg, item.gravity_mg)
    finally:
        if first_t is not None and last_t is not None and not link_events:
            session.archive.add_device_status(session.user, session.device, last_t, None, False)
            session.archive.commit()
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


async def consume_isolated(session: StrapSession, source: BeatSource) -> None:
    """Like :func:`consume_source`, but a failing source is logged and ends alone (never its siblings)."""
    try:
        await consume_source(session, source)
    except Exception as exc:
        session.stats.error = str(exc) or type(exc).__name__
        log.error("strap %s (user %s) stopped: %s", session.device, session.user, exc)
        log.debug("strap failure", exc_info=True)


def sim_plan(
    cfg: Config, seed: int, speed: float, user: str | None = None, start: float | None = None
) -> PlannedSource:
    import random

    from sensors.simulated import SimulatedStrap, random_script

    strap = SimulatedStrap(
        seed=seed,
        speed=speed,
        duration_s=None,
        episodes=random_script(7 * 86400.0, random.Random(seed)),
        device="sim-strap",
        start_epoch=start,
    )
    return PlannedSource(user=user or SIM_USER, device=strap.device, source=strap)


async def plan_sources(
    spec: str,
    cfg: Config,
    *,
    seed: int,
    speed: float,
    user: str | None = None,
    start: float | None = None,
) -> tuple[list[PlannedSource], str]:
    """The sources ``--source SPEC`` names; raises SourceChoiceError (or ReplayFormatError) when unusable.

    ``user``: whose data (``--user``); sim defaults to :data:`SIM_USER`, replay to the configured user; for
    ble the ``[[straps]]`` entries say whose each strap is (``user`` only names the single scanned strap's).
    """
    if spec == "sim":
        sim = sim_plan(cfg, seed, speed, user, start)
        return [sim], f"source sim (simulated strap, user {sim.user!r})"
    if spec == "ble":
        found = None
        if not cfg.straps:
            from bleak.exc import BleakError

            from sensors.ble import scan

            try:
                found = await scan(8.0)
            except (BleakError, OSError) as exc:
                raise SourceChoiceError(
                    f"Bluetooth is not available ({exc}); see README, 'Connect your strap'"
                ) from None
        plan, note = ble_plan(cfg, found, user)
        return plan, note or f"source ble: {len(plan)} strap(s) from the configuration"
    if spec.startswith("replay:") and len(spec) > len("replay:"):
        path = spec[len("replay:") :]
        return [replay_plan(cfg, path, speed, user, start)], f"source replay of {path} at {speed:g}x"
    raise SourceChoiceError(f"unknown --source {spec!r}; expected sim, ble or replay:FILE")
