"""Home Assistant MQTT device discovery, as a declarative table.

One retained device-discovery message per user on ``<prefix>/device/<device_id>/config`` (Home Assistant
2024.11+ device-based discovery): sensors for heart rate, RMSSD, arousal score, arousal state and strap
battery read the retained ``<base>/<user>/state`` topic; an event entity fires on every prompt of
``<base>/<user>/prompt`` (the prompt JSON carries ``event_type``). Availability follows
``<base>/<user>/status`` (``online`` / ``offline``, the latter the client's last will). The config is
republished whenever ``<prefix>/status`` says ``online`` (Home Assistant restarted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alerts.catalog import PromptKind
from processing.arousal import ArousalState
from sensors.ids import parse_user_id


@dataclass(frozen=True, slots=True)
class DiscoveryEntity:
    """One component of the discovered device; ``field`` is the key in the state JSON."""

    key: str
    platform: str
    name: str
    field: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    icon: str | None = None
    options: tuple[str, ...] = ()
    topic: str = "state"


ENTITIES: tuple[DiscoveryEntity, ...] = (
    DiscoveryEntity("hr", "sensor", "Heart rate", "hr_bpm", "bpm", None, "measurement", "mdi:heart-pulse"),
    DiscoveryEntity("rmssd", "sensor", "RMSSD", "rmssd_ms", "ms", "duration", "measurement", "mdi:sine-wave"),
    DiscoveryEntity(
        "arousal_score", "sensor", "Arousal score", "score", None, None, "measurement", "mdi:gauge"
    ),
    DiscoveryEntity(
        "arousal_state",
        "sensor",
        "Arousal state",
        "state",
        device_class="enum",
        icon="mdi:waves",
        options=tuple(s.value for s in ArousalState),
    ),
    DiscoveryEntity("battery", "sensor", "Strap battery", "battery_pct", "%", "battery", "measurement"),
    DiscoveryEntity(
        "prompt",
        "event",
        "Prompt",
        icon="mdi:meditation",
        options=tuple(k.value for k in PromptKind),
        topic="prompt",
    ),
)


def device_id(user: str) -> str:
    """The device id of a user: ``calmstrap_<user>``, the user id as is (its alphabet, :mod:`sensors.ids`, is
    already safe for Home Assistant: no two users share a device or an entity id); raises
    :class:`sensors.ids.InvalidUserId` for anything else."""
    return "calmstrap_" + parse_user_id(user)


def discovery_topic(prefix: str, user: str) -> str:
    return f"{prefix}/device/{device_id(user)}/config"


def _component(e: DiscoveryEntity, dev: str, base: str, user: str) -> dict[str, Any]:
    c: dict[str, Any] = {"p": e.platform, "name": e.name, "unique_id": f"{dev}_{e.key}"}
    if e.platform == "event":
        c["state_topic"] = f"{base}/{user}/{e.topic}"
        c["event_types"] = list(e.options)
    else:
        c["value_template"] = f"{{{{ value_json.{e.field} }}}}"
        if e.options:
            c["options"] = list(e.options)
    for k, v in (
        ("unit_of_measurement", e.unit),
        ("device_class", e.device_class),
        ("state_class", e.state_class),
        ("icon", e.icon),
    ):
        if v is not None:
            c[k] = v
    return c


def discovery_payload(base_topic: str, user: str, sw_version: str) -> dict[str, Any]:
    """The device-discovery config of one user's calmstrap device."""
    dev = device_id(user)
    return {
        "dev": {"ids": [dev], "name": f"calmstrap {user}", "mf": "calmstrap", "mdl": "HRV biofeedback"},
        "o": {"name": "calmstrap", "sw": sw_version},
        "cmps": {f"{dev}_{e.key}": _component(e, dev, base_topic, user) for e in ENTITIES},
        "state_topic": f"{base_topic}/{user}/state",
        "availability_topic": f"{base_topic}/{user}/status",
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
    }
