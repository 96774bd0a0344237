"""The worker's sessions: one ``StrapSession`` per user and device of a partition, their events put back in
device order, and their state as one snapshot per user (``calmstrap worker``, cluster.worker.PartitionHost).

Each session's archive is a :class:`cluster.ops.RecordingArchive`: every archive write becomes an operation
published on the results stream with an id made from the event's device, outbox epoch and sequence.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import cast

from calmstrap.config import Config
from calmstrap.pipeline import StrapSession, new_session
from calmstrap.session_state import SessionState, apply_state, state_of, without_config_tz
from cluster import subjects as sj
from cluster.ops import UPDATES, RecordingArchive
from cluster.worker import Inbound, Outbound
from processing import snapshot
from storage.archive import Archive

log = logging.getLogger("calmstrap.cluster")
USER_STATE_KIND = "calmstrap.worker-user"


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
