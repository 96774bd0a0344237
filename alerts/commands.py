"""Inbound commands on ``<base>/<user>/command``: validated JSON objects, one dataclass per command.

Payloads (``schema`` optional, ``calmstrap.command/1`` when given)::

    {"command": "snooze", "minutes": 30}
    {"command": "feedback", "prompt_id": "me-20260101T101500-3", "helped": true}
    {"command": "practice", "minutes": 2}            # optional "breaths_per_min" (4-8, default 6)

Anything else raises :class:`CommandError` naming the topic and what was wrong (never the payload).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from alerts.errors import CommandError

COMMAND_SCHEMA = "calmstrap.command/1"
MAX_SNOOZE_MIN = 24 * 60.0
MAX_PRACTICE_MIN = 20.0
MAX_PAYLOAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Snooze:
    user: str
    minutes: float


@dataclass(frozen=True, slots=True)
class Feedback:
    user: str
    prompt_id: str
    helped: bool


@dataclass(frozen=True, slots=True)
class Practice:
    user: str
    minutes: float
    breaths_per_min: float = 6.0


Command = Snooze | Feedback | Practice


def user_from_topic(topic: str, base_topic: str) -> str | None:
    """The user of ``<base>/<user>/command``, else None."""
    prefix = base_topic.rstrip("/") + "/"
    if not topic.startswith(prefix) or not topic.endswith("/command"):
        return None
    user = topic[len(prefix) : -len("/command")]
    return user if user and "/" not in user else None


def _number(
    obj: dict[str, object], key: str, topic: str, lo: float, hi: float, default: float | None
) -> float:
    v = obj.get(key, default)
    if v is None:
        raise CommandError(topic, f"missing {key!r}")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise CommandError(topic, f"{key!r} must be a number")
    if (isinstance(v, int) and abs(v) > 10**9) or not math.isfinite(v):
        raise CommandError(topic, f"{key!r} must be between {lo:g} and {hi:g}")
    if not lo <= float(v) <= hi:
        raise CommandError(topic, f"{key!r} must be between {lo:g} and {hi:g}")
    return float(v)


def parse_command(topic: str, payload: bytes, base_topic: str) -> Command:
    """Validate one inbound message; raise :class:`CommandError` when it is not a valid command."""
    user = user_from_topic(topic, base_topic)
    if user is None:
        raise CommandError(topic, f"not a command topic (expected {base_topic}/<user>/command)")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(topic, f"payload longer than {MAX_PAYLOAD_BYTES} bytes")
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, too many digits, too deep
        raise CommandError(topic, f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise CommandError(topic, "expected a JSON object")
    schema = obj.get("schema", COMMAND_SCHEMA)
    if schema != COMMAND_SCHEMA:
        raise CommandError(topic, f"unsupported schema (expected {COMMAND_SCHEMA!r})")
    name = obj.get("command")
    if name == "snooze":
        return Snooze(user, _number(obj, "minutes", topic, 0.0, MAX_SNOOZE_MIN, None))
    if name == "feedback":
        pid = obj.get("prompt_id")
        if not isinstance(pid, str) or not pid or len(pid) > 200:
            raise CommandError(topic, "'prompt_id' must be a non-empty string")
        helped = obj.get("helped")
        if not isinstance(helped, bool):
            raise CommandError(topic, "'helped' must be true or false")
        return Feedback(user, pid, helped)
    if name == "practice":
        minutes = _number(obj, "minutes", topic, 0.5, MAX_PRACTICE_MIN, 2.0)
        rate = _number(obj, "breaths_per_min", topic, 4.0, 8.0, 6.0)
        return Practice(user, minutes, rate)
    if isinstance(name, str):
        raise CommandError(topic, "unknown command (expected snooze, feedback or practice)")
    raise CommandError(topic, "missing 'command'")
