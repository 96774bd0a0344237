"""One paho-mqtt 2.x client (MQTT 5) for :class:`alerts.mqtt.MqttNotifier`: built per connection attempt,
with every callback handed from paho's network thread to the asyncio loop.

The notifier keeps all state on the loop; these callbacks only schedule its handlers there
(``loop.call_soon_threadsafe``), and do nothing once the loop is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from alerts.mqtt_settings import MqttSettings

AUTH_CODES = frozenset({0x86, 0x87, 0x8C})
"""CONNACK reason codes that mean bad credentials: bad user name or password, not authorized, bad
authentication method."""


@dataclass(frozen=True, slots=True)
class ClientHandlers:
    """What the client's callbacks call, on ``loop``: connection events (``connack``, ``disconnect``,
    ``suback``), publish acknowledgements (message id, reason code), and inbound messages (topic, payload,
    retained)."""

    loop: asyncio.AbstractEventLoop
    event: Callable[[str, ReasonCode | None], None]
    ack: Callable[[int, ReasonCode], None]
    message: Callable[[str, bytes, bool], None]

    def call(self, fn: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self.loop.call_soon_threadsafe(fn, *args)


def new_client(
    s: MqttSettings, client_id: str, *, will_topic: str | None, will_payload: bytes, handlers: ClientHandlers
) -> mqtt.Client:
    """A client for one connection attempt (no automatic reconnect: the notifier's task reconnects)."""
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
    )
    c.connect_timeout = s.connect_timeout_s
    if s.username:
        c.username_pw_set(s.username, s.password or None)
    if s.tls:
        c.tls_set(ca_certs=s.ca_file or None, certfile=s.cert_file or None, keyfile=s.key_file or None)
    if will_topic is not None:
        c.will_set(will_topic, will_payload, qos=1, retain=True)
    h = handlers

    def on_connect(
        _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None = None
    ) -> None:
        h.call(h.event, "connack", rc)

    def on_disconnect(
        _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None = None
    ) -> None:
        h.call(h.event, "disconnect", rc)

    def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, _rcs: object, _p: object = None) -> None:
        h.call(h.event, "suback", None)

    def on_publish(_c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: Properties) -> None:
        h.call(h.ack, mid, rc)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        h.call(h.message, msg.topic, bytes(msg.payload), bool(msg.retain))

    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    c.on_publish = on_publish
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    return c


def describe(exc: BaseException) -> str:
    """A connection failure in a few plain words (no credentials: the exception never carries them)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the broker running?)"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
