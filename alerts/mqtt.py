"""The MQTT notifier (paho-mqtt 2.x, MQTT 5): prompts, state, episodes and status out; commands in.

Topics under ``<base>/<user>/``:

* ``state``   retained, QoS 0, at most every ``state_interval_s`` (5 s) and on every change of arousal state;
* ``prompt``  QoS 1, MQTT 5 message expiry interval = the prompt's remaining usefulness;
* ``episode`` QoS 1, onset and end events;
* ``status``  retained ``online``; the last will (``offline``, retained) is set on the first user's topic
  and ``offline`` is published for every user on a clean shutdown;
* ``command`` inbound, validated (:mod:`alerts.commands`); a bad one is logged at WARNING and ignored, and
  so is one that outlived its intent: delivered retained (it would replay on every start), or with a
  ``t`` over a minute old or from before this client started.

Robustness. One paho client per connection attempt, its network loop in paho's thread, every callback
handed to the asyncio loop (state is only touched there). The connection is kept by a named task that
reconnects with a growing random delay. While the broker is unreachable :meth:`MqttNotifier.send_prompt`
returns False at once (the pipeline shows the prompt on the console) and the prompt is kept in an outbox;
on reconnect the retained status, discovery and latest state are republished and the outbox is sent —
each prompt only if it is still within its expiry, with the interval shortened to what remains. A client
that lost its connection is thrown away with whatever paho still held, so nothing is re-sent late.

Clock. Prompt times and expiries are on the pipeline's clock (the beat clock), which in the demo runs
``time_scale`` times faster than the wall clock. The notifier keeps the pipeline's newest time and the
monotonic wall time it learned it, and extrapolates: ``now = t_last + (wall - wall_last) * time_scale``.
Expiry checks use that ``now``; the MQTT expiry interval (which the broker counts in wall seconds) is the
remaining pipeline time divided by ``time_scale``, rounded down, at least 1 s for a fresh prompt (so in a
demo faster than 120x a queued prompt can outlive its pipeline expiry by under one wall second); a
re-sent prompt with under one wall second left is dropped instead. In the service ``time_scale`` is 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import Enum
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from alerts.catalog import Prompt
from alerts.clock import PipelineClock
from alerts.commands import Command, check_fresh, parse_command
from alerts.errors import CommandError, MqttAuthError, MqttConnectError, MqttSettingsError, StaleCommand
from alerts.homeassistant import discovery_payload, discovery_topic
from alerts.mqtt_client import AUTH_CODES, ClientHandlers, describe, new_client
from alerts.mqtt_settings import MqttSettings as MqttSettings
from alerts.mqtt_settings import check_user as check_user
from alerts.notify import StrapStatus
from alerts.payloads import encode, episode_payload, prompt_payload, state_payload
from processing.arousal import Arousal, ArousalState
from processing.episodes import Episode, EpisodeOnset
from sensors.ids import InvalidUserId

log = logging.getLogger("calmstrap.mqtt")

ONLINE = b"online"
OFFLINE = b"offline"


class _Sent(Enum):
    SENT = "sent"
    EXPIRED = "expired"
    NOT_CONNECTED = "not connected"


@dataclass(slots=True)
class _Out:
    """A message for the broker; ``expires_t`` on the pipeline clock (None: no expiry)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool = False
    expires_t: float | None = None
    key: str = ""
    retried: bool = False
    done: asyncio.Future[bool] | None = None


@dataclass(slots=True)
class MqttStats:
    connects: int = 0
    disconnects: int = 0
    prompts_published: int = 0
    prompts_acked: int = 0
    prompts_queued: int = 0
    prompts_resent: int = 0
    prompts_dropped_expired: int = 0
    states_published: int = 0
    commands: int = 0
    commands_ignored: int = 0
    commands_stale: int = 0


class MqttNotifier:
    """A :class:`alerts.notify.Notifier` over MQTT. Use as ``async with MqttNotifier(...) as mqtt:``."""

    name = "mqtt"

    def __init__(
        self,
        settings: MqttSettings,
        *,
        users: Sequence[str] = (),
        time_scale: float = 1.0,
        sw_version: str = "0",
        seed: int | None = None,
    ) -> None:
        settings.check()
        if not time_scale > 0:
            raise MqttSettingsError("time_scale", time_scale, "a number > 0")
        self.settings = settings
        self.time_scale = float(time_scale)
        self.sw_version = sw_version
        self._users: list[str] = [check_user(u) for u in users]
        self._started_t = time.time()
        self._client_id = settings.client_id or (
            f"calmstrap-{self._users[0] if self._users else 'service'}-{secrets.token_hex(3)}"
        )
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._gen = 0
        self._events: asyncio.Queue[tuple[int, str, ReasonCode | None]] | None = None
        self._connected = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._outbox: deque[_Out] = deque()
        self._inflight: dict[int, _Out] = {}
        self._last_state: dict[str, bytes] = {}
        self._last_state_t: dict[str, float] = {}
        self._last_state_kind: dict[str, ArousalState] = {}
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._clock = PipelineClock(self.time_scale)
        self._bad_users: set[str] = set()
        self._logged_error = ""
        self.last_error: MqttConnectError | None = None
        self.stats = MqttStats()

    # ----------------------------------------------------------------- topics and clock

    def topic(self, user: str, leaf: str) -> str:
        return f"{self.settings.base_topic}/{user}/{leaf}"

    def now(self) -> float:
        """The pipeline clock (:class:`alerts.clock.PipelineClock`)."""
        return self._clock.now()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._connected.is_set()

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(self._users)

    # ----------------------------------------------------------------- lifetime

    async def __aenter__(self) -> MqttNotifier:
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._started_t = time.time()
        self._task = asyncio.create_task(self._run(), name=f"mqtt:{self.settings.host}:{self.settings.port}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Publish ``offline`` for every user, disconnect cleanly (no last will), stop the task."""
        self._closing = True
        client = self._client
        if client is not None and self.connected:
            waits = []
            for user in self._users:
                out = _Out(self.topic(user, "status"), OFFLINE, 1, retain=True)
                assert self._loop is not None
                out.done = self._loop.create_future()
                if self._publish(out) is _Sent.SENT:
                    waits.append(out.done)
            if waits:
                await asyncio.wait(waits, timeout=self.settings.ack_timeout_s)
            client.disconnect()
        task = self._task
        self._task = None
        if task is None:
            return
        if client is None:
            task.cancel()  # not connected: it is waiting to retry; nothing to close
        else:
            done, _ = await asyncio.wait({task}, timeout=5.0)
            if not done:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until connected and subscribed to commands; on timeout raise the last connection error."""
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)
        except TimeoutError:
            if self.last_error is not None:
                raise self.last_error from None
            raise

    # ----------------------------------------------------------------- the connection task

    def _new_client(self, gen: int) -> mqtt.Client:
        loop = self._loop
        assert loop is not None
        return new_client(
            self.settings,
            self._client_id,
            will_topic=self.topic(self._users[0], "status") if self._users else None,
            will_payload=OFFLINE,
            handlers=ClientHandlers(
                loop,
                event=lambda kind, rc: self._post_event(gen, kind, rc),
                ack=lambda mid, rc: self._on_ack(gen, mid, rc),
                message=self._on_message,
            ),
        )

    def _post_event(self, gen: int, kind: str, rc: ReasonCode | None) -> None:
        if gen == self._gen and self._events is not None:
            self._events.put_nowait((gen, kind, rc))

    def _backoff_s(self, failures: int) -> float:
        s = self.settings
        base = min(s.reconnect_max_s, s.reconnect_min_s * 2.0 ** max(failures - 1, 0))
        return base * self._rng.uniform(0.5, 1.0)

    def _failed(self, err: MqttConnectError) -> None:
        self.last_error = err
        text = str(err)
        if text != self._logged_error:
            self._logged_error = text
            level = logging.ERROR if isinstance(err, MqttAuthError) else logging.WARNING
            log.log(level, "%s; prompts go to the console meanwhile, retrying with backoff", text)

    async def _run(self) -> None:
        failures = 0
        s = self.settings
        while not self._closing:
            self._gen += 1
            gen = self._gen
            self._events = asyncio.Queue()
            client = self._new_client(gen)
            try:
                await asyncio.to_thread(
                    client.connect,
                    s.host,
                    s.port,
                    s.keepalive_s,
                    clean_start=True,
                )
            except (OSError, ValueError) as exc:  # ssl.SSLError and socket.timeout are OSErrors
                self._failed(MqttConnectError(s.broker, describe(exc)))
                failures += 1
                await asyncio.sleep(self._backoff_s(failures))
                continue
            client.loop_start()
            try:
                try:
                    _, kind, rc = await asyncio.wait_for(self._events.get(), s.connect_timeout_s)
                except TimeoutError:
                    kind, rc = "timeout", None
                if kind != "connack" or rc is None or rc.is_failure:
                    if rc is not None and rc.value in AUTH_CODES:
                        self._failed(MqttAuthError(s.broker, rc.getName(), anonymous=not s.username))
                    else:
                        reason = rc.getName() if rc is not None else "no CONNACK (timed out)"
                        self._failed(MqttConnectError(s.broker, f"refused the connection: {reason}"))
                    failures += 1
                else:
                    failures = 0
                    self._up(client)
                    while True:
                        _, kind, rc = await self._events.get()
                        if kind == "suback":
                            self._subscribed.set()
                        elif kind == "disconnect":
                            break
                    if not self._closing:
                        reason = rc.getName() if rc is not None else "?"
                        self._failed(MqttConnectError(s.broker, f"connection lost ({reason})"))
                        failures = 1
            finally:
                self._down()
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(client.loop_stop)
            if not self._closing:
                await asyncio.sleep(self._backoff_s(failures))

    def _up(self, client: mqtt.Client) -> None:
        s = self.settings
        self._client = client
        self._connected.set()
        self.stats.connects += 1
        self.last_error = None
        self._logged_error = ""
        log.info("MQTT connected to %s as %s", s.broker, self._client_id)
        subs = [(f"{s.base_topic}/+/command", SubscribeOptions(qos=1, noLocal=True))]
        if s.homeassistant:
            subs.append((f"{s.discovery_prefix}/status", SubscribeOptions(qos=1)))
        client.subscribe(subs)
        for user in self._users:
            self._announce(user)
        self._flush_outbox()

    def _down(self) -> None:
        was = self._client is not None
        self._client = None
        self._connected.clear()
        self._subscribed.clear()
        if was:
            self.stats.disconnects += 1
        # whatever the broker did not acknowledge goes back to the outbox, in order, for a re-send
        for out in reversed(list(self._inflight.values())):
            if out.done is not None and not out.done.done():
                out.done.set_result(False)
            out.done = None
            if out.expires_t is not None:
                out.retried = True
                self._outbox.appendleft(out)
        self._inflight.clear()

    def _announce(self, user: str) -> None:
        """Retained status, discovery and the latest state of one user (on connect, or a new user)."""
        self._publish(_Out(self.topic(user, "status"), ONLINE, 1, retain=True))
        if self.settings.homeassistant:
            self._publish_discovery(user)
        state = self._last_state.get(user)
        if state is not None:
            self._publish(_Out(self.topic(user, "state"), state, 0, retain=True))

    def _publish_discovery(self, user: str) -> None:
        s = self.settings
        payload = encode(discovery_payload(s.base_topic, user, self.sw_version))
        self._publish(_Out(discovery_topic(s.discovery_prefix, user), payload, 1, retain=True))

    def _flush_outbox(self) -> None:
        while self._outbox and self.connected:
            out = self._outbox.popleft()
            res = self._publish(out)
            if res is _Sent.NOT_CONNECTED:
                self._outbox.appendleft(out)
                return
            if out.key and res is _Sent.SENT:
                self.stats.prompts_resent += 1

    def _enqueue(self, out: _Out) -> None:
        if len(self._outbox) >= self.settings.outbox_max:
            self._outbox.popleft()
        out.retried = True
        self._outbox.append(out)

    def _publish(self, out: _Out) -> _Sent:
        client = self._client
        if client is None or not self._connected.is_set():
            return _Sent.NOT_CONNECTED
        props: Properties | None = None
        if out.expires_t is not None:
            remaining_wall_s = (out.expires_t - self.now()) / self.time_scale
            if remaining_wall_s <= 0 or (out.retried and remaining_wall_s < 1.0):
                if out.key:
                    self.stats.prompts_dropped_expired += 1
                    log.info("MQTT: dropped prompt %s, expired before the broker could take it", out.key)
                if out.done is not None and not out.done.done():
                    out.done.set_result(False)
                return _Sent.EXPIRED
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.MessageExpiryInterval = max(1, int(remaining_wall_s))
        info = client.publish(out.topic, out.payload, qos=out.qos, retain=out.retain, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return _Sent.NOT_CONNECTED
        if out.qos > 0:
            self._inflight[info.mid] = out
        return _Sent.SENT

    def _on_ack(self, gen: int, mid: int, rc: ReasonCode) -> None:
        if gen != self._gen:
            return
        out = self._inflight.pop(mid, None)
        if out is None:
            return
        ok = not rc.is_failure
        if not ok:
            log.warning("MQTT broker refused a message on %s: %s", out.topic, rc.getName())
        elif out.key:
            self.stats.prompts_acked += 1
        if out.done is not None and not out.done.done():
            out.done.set_result(ok)

    def _on_message(self, topic: str, payload: bytes, retained: bool = False) -> None:
        s = self.settings
        if s.homeassistant and topic == f"{s.discovery_prefix}/status":
            if payload.strip().lower() == ONLINE:
                for user in self._users:
                    self._publish_discovery(user)
            return
        try:
            cmd = parse_command(topic, payload, s.base_topic)
            check_fresh(cmd, topic, now_t=time.time(), started_t=self._started_t, retained=retained)
        except CommandError as exc:
            self.stats.commands_ignored += 1
            if isinstance(exc, StaleCommand):
                self.stats.commands_stale += 1
            log.warning("%s", exc)
            return
        self.stats.commands += 1
        self._commands.put_nowait(cmd)

    def _see_user(self, user: str) -> bool:
        """Note a user (announce it when new); False for a name that cannot be a topic level."""
        if user in self._users:
            return True
        try:
            check_user(user)
        except InvalidUserId as exc:
            if user not in self._bad_users:
                self._bad_users.add(user)
                log.warning("MQTT: %s; not published", exc)
            return False
        self._users.append(user)
        if self.connected:
            self._announce(user)
        return True

    # ----------------------------------------------------------------- the Notifier protocol

    async def send_prompt(self, prompt: Prompt) -> bool:
        self._clock.advance(prompt.t)
        if not self._see_user(prompt.user):
            return False
        out = _Out(
            self.topic(prompt.user, "prompt"),
            encode(prompt_payload(prompt)),
            1,
            expires_t=prompt.expires_t,
            key=prompt.id,
        )
        if not self.connected:
            self._enqueue(out)
            self.stats.prompts_queued += 1
            return False
        assert self._loop is not None
        fut: asyncio.Future[bool] = self._loop.create_future()
        out.done = fut
        res = self._publish(out)
        if res is _Sent.NOT_CONNECTED:
            out.done = None
            self._enqueue(out)
            self.stats.prompts_queued += 1
            return False
        if res is _Sent.EXPIRED:
            return False
        self.stats.prompts_published += 1
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.settings.ack_timeout_s)
        except TimeoutError:
            return False  # still in flight: re-sent within its expiry if the connection drops

    async def publish_state(self, user: str, arousal: Arousal, strap: StrapStatus | None) -> None:
        self._clock.advance(arousal.t)
        if not self._see_user(user):
            return
        payload = encode(state_payload(user, arousal, strap))
        self._last_state[user] = payload
        last_t = self._last_state_t.get(user, -math.inf)
        changed = self._last_state_kind.get(user) is not arousal.state
        if (changed or arousal.t - last_t >= 0.9 * self.settings.state_interval_s) and self.connected:
            res = self._publish(_Out(self.topic(user, "state"), payload, 0, retain=True))
            if res is _Sent.SENT:
                self._last_state_t[user] = arousal.t
                self._last_state_kind[user] = arousal.state
                self.stats.states_published += 1

    async def publish_episode(self, user: str, event: EpisodeOnset | Episode) -> None:
        t = event.detected_t if isinstance(event, EpisodeOnset) else event.end_t
        self._clock.advance(t)
        if not self._see_user(user):
            return
        out = _Out(
            self.topic(user, "episode"),
            encode(episode_payload(user, event)),
            1,
            expires_t=t + self.settings.episode_expiry_s,
        )
        if self._publish(out) is _Sent.NOT_CONNECTED:
            self._enqueue(out)

    async def commands(self) -> AsyncIterator[Command]:
        """Valid inbound commands, as they arrive."""
        while True:
            yield await self._commands.get()
