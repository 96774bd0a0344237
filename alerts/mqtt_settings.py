"""The MQTT notifier's settings: broker, TLS, credentials, topics, timing; checked before any connection.

:meth:`MqttSettings.from_url` reads ``mqtt://host[:1883]`` / ``mqtts://host[:8883]`` (no credentials in the
URL: they go in ``username`` / ``password``); :meth:`MqttSettings.check` refuses a setting that cannot work.
User ids as topic levels: :func:`check_user` (the one rule of :mod:`sensors.ids`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from alerts.errors import MqttSettingsError
from sensors.ids import UserId, parse_user_id

_TOPIC_BAD = re.compile(r"[+#\x00]")


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int = 1883
    tls: bool = False
    base_topic: str = "calmstrap"
    client_id: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    homeassistant: bool = True
    discovery_prefix: str = "homeassistant"
    keepalive_s: int = 30
    state_interval_s: float = 5.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 2.0
    episode_expiry_s: float = 3600.0
    outbox_max: int = 1000

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> MqttSettings:
        """``mqtt://host[:1883]`` or ``mqtts://host[:8883]`` plus any other field."""
        parts = urlsplit(url)
        shown = url.rsplit("@", 1)[-1]  # never a password in a message: only what follows the credentials
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise MqttSettingsError("url", shown, "mqtt://host[:port] or mqtts://host[:port]")
        if parts.username is not None or parts.password is not None:
            raise MqttSettingsError("url", shown, "a URL without user:password@ (use username and password)")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise MqttSettingsError("url", shown, "a port between 1 and 65535") from None
        return cls(host=parts.hostname, port=port, tls=tls, **kwargs)

    @property
    def broker(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def check(self) -> None:
        """Raise :class:`MqttSettingsError` for a setting that cannot work."""
        if not self.base_topic or _TOPIC_BAD.search(self.base_topic) or self.base_topic.endswith("/"):
            raise MqttSettingsError("base_topic", self.base_topic, "a topic without +, # or a trailing /")
        if _TOPIC_BAD.search(self.discovery_prefix) or not self.discovery_prefix:
            raise MqttSettingsError("discovery_prefix", self.discovery_prefix, "a topic without + or #")
        if len(self.client_id) > 128 or any(c.isspace() or not c.isprintable() for c in self.client_id):
            # a newline makes the broker refuse the connection ("Unspecified error"), again and again
            raise MqttSettingsError(
                "client_id", self.client_id[:40], "up to 128 printable characters, no spaces"
            )
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, key)
            if path and not os.access(path, os.R_OK):
                raise MqttSettingsError(key, path, "a readable file")
        if (self.cert_file or self.key_file) and not self.tls:
            raise MqttSettingsError("url", self.broker, "mqtts:// when a client certificate is set")
        if self.key_file and not self.cert_file:
            raise MqttSettingsError("cert_file", "", "a client certificate to go with key_file")
        if self.password and not self.username:
            raise MqttSettingsError("username", "", "a username to go with the password")
        if self.reconnect_min_s <= 0 or self.reconnect_max_s < self.reconnect_min_s:
            raise MqttSettingsError(
                "reconnect_max_s", self.reconnect_max_s, "a number >= reconnect_min_s > 0"
            )


def check_user(user: str) -> UserId:
    """A user id as a topic level; raises :class:`sensors.ids.InvalidUserId` (the one rule for user ids)."""
    return parse_user_id(user)
