"""Inbound commands: validated JSON objects, one dataclass per command, and the checks that keep a command
from outliving its intent. Pure functions: the MQTT intake (``<base>/<user>/command``) and the person's web
page both call them, and apply what passes to the user's session.

Payloads (JSON Schema: :data:`alerts.payloads.COMMAND_SCHEMA`; ``schema`` optional, ``calmstrap.command/1``
when given; ``t`` optional, when the command was sent, epoch seconds of the sender's wall clock)::

    {"command": "snooze", "minutes": 30}             # 0 to 1440 (24 h); 0 ends a snooze
    {"command": "feedback", "prompt_id": "me-20260101T101500-3", "helped": true}
    {"command": "practice", "minutes": 2}            # 0.5 to 20; optional "breaths_per_min" (4-8, default 6)

The checks, each raising a :class:`alerts.errors.CommandError` (logged at WARNING by the caller, the
command ignored):

* :func:`parse_command` / :func:`command_from_object`: the shape and ranges above; the user from the topic
  (or the page) must be a valid user id (:mod:`sensors.ids`).
* :func:`check_fresh`: a command delivered as a retained MQTT message (published with the retain flag,
  which would replay it on every start, forever) is refused; so is one whose ``t`` is more than
  :data:`MAX_COMMAND_AGE_S` (a minute) old, from before the service started, or more than a minute ahead
  of this machine's clock.
* :func:`check_feedback_owner`: feedback only for a prompt of the same user (looked up in the archive).
* :func:`check_practice_free`: one practice at a time per user; a practice asked for while one runs is
  refused (the running one goes on; ask again when it has ended).

Errors name the topic and what was wrong, never the payload.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from alerts.errors import CommandError, NotOwnPrompt, PracticeRunning, StaleCommand
from sensors.ids import InvalidUserId, UserId, parse_user_id

COMMAND_SCHEMA_ID = "calmstrap.command/1"
MAX_SNOOZE_MIN = 24 * 60.0
"""The longest snooze (24 h): a snooze that is meant to end must not become "off" by accident."""
MIN_PRACTICE_MIN = 0.5
MAX_PRACTICE_MIN = 20.0
MIN_BREATHS_PER_MIN = 4.0
MAX_BREATHS_PER_MIN = 8.0
MAX_PAYLOAD_BYTES = 4096
MAX_PROMPT_ID_LEN = 200
MAX_COMMAND_AGE_S = 60.0
"""A command whose ``t`` is older than this when it arrives is stale and ignored."""
MAX_CLOCK_AHEAD_S = 60.0
"""A command whose ``t`` is further than this in the future comes from a clock that is off; ignored."""


@dataclass(frozen=True, slots=True)
class Snooze:
    user: UserId
    minutes: float
    sent_t: float | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    user: UserId
    prompt_id: str
    helped: bool
    sent_t: float | None = None


@dataclass(frozen=True, slots=True)
class Practice:
    user: UserId
    minutes: float
    breaths_per_min: float = 6.0
    sent_t: float | None = None


Command = Snooze | Feedback | Practice


def user_from_topic(topic: str, base_topic: str) -> str | None:
    """What stands for the user in ``<base>/<user>/command`` (not yet checked: it may be empty or hold a
    ``/``, and :func:`command_from_object` refuses it with the user-id message), else None."""
    prefix = base_topic.rstrip("/") + "/"
    if len(topic) < len(prefix) + len("/command") or not topic.startswith(prefix):
        return None
    if not topic.endswith("/command"):
        return None
    return topic[len(prefix) : -len("/command")]


def _number(
    obj: Mapping[str, object], key: str, where: str, lo: float, hi: float, default: float | None
) -> float:
    v = obj.get(key, default)
    if v is None:
        raise CommandError(where, f"missing {key!r}")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise CommandError(where, f"{key!r} must be a number")
    if (isinstance(v, int) and abs(v) > 10**12) or not math.isfinite(v) or not lo <= float(v) <= hi:
        raise CommandError(where, f"{key!r} must be between {lo:g} and {hi:g}")
    return float(v)


def _sent_t(obj: Mapping[str, object], where: str) -> float | None:
    if "t" not in obj:
        return None
    return _number(obj, "t", where, 0.0, 1e11, None)


def command_from_object(user: str, obj: object, where: str) -> Command:
    """Validate one command given as a decoded JSON object for ``user``; ``where`` names its origin in
    errors (the MQTT topic, or the web page's route)."""
    try:
        uid = parse_user_id(user)
    except InvalidUserId as exc:
        raise CommandError(where, str(exc)) from None
    if not isinstance(obj, dict):
        raise CommandError(where, "expected a JSON object")
    schema = obj.get("schema", COMMAND_SCHEMA_ID)
    if schema != COMMAND_SCHEMA_ID:
        raise CommandError(where, f"unsupported schema (expected {COMMAND_SCHEMA_ID!r})")
    name = obj.get("command")
    if name == "snooze":
        return Snooze(uid, _number(obj, "minutes", where, 0.0, MAX_SNOOZE_MIN, None), _sent_t(obj, where))
    if name == "feedback":
        pid = obj.get("prompt_id")
        if not isinstance(pid, str) or not pid or len(pid) > MAX_PROMPT_ID_LEN:
            raise CommandError(where, f"'prompt_id' must be a string of 1 to {MAX_PROMPT_ID_LEN} characters")
        helped = obj.get("helped")
        if not isinstance(helped, bool):
            raise CommandError(where, "'helped' must be true or false")
        return Feedback(uid, pid, helped, _sent_t(obj, where))
    if name == "practice":
        minutes = _number(obj, "minutes", where, MIN_PRACTICE_MIN, MAX_PRACTICE_MIN, 2.0)
        rate = _number(obj, "breaths_per_min", where, MIN_BREATHS_PER_MIN, MAX_BREATHS_PER_MIN, 6.0)
        return Practice(uid, minutes, rate, _sent_t(obj, where))
    if isinstance(name, str):
        raise CommandError(where, "unknown command (expected snooze, feedback or practice)")
    raise CommandError(where, "missing 'command'")


def parse_command(topic: str, payload: bytes, base_topic: str) -> Command:
    """Validate one inbound MQTT message; raise :class:`CommandError` when it is not a valid command."""
    user = user_from_topic(topic, base_topic)
    if user is None:
        raise CommandError(topic, f"not a command topic (expected {base_topic}/<user>/command)")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(topic, f"payload longer than {MAX_PAYLOAD_BYTES} bytes")
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, too many digits, too deep
        raise CommandError(topic, f"not valid JSON ({type(exc).__name__})") from None
    return command_from_object(user, obj, topic)


def check_fresh(cmd: Command, where: str, *, now_t: float, started_t: float, retained: bool = False) -> None:
    """Refuse a command that outlived its intent: a retained MQTT message, or a ``t`` that is more than
    :data:`MAX_COMMAND_AGE_S` old, before ``started_t`` (when the service started) or too far ahead.
    ``now_t`` and ``started_t`` are wall-clock epoch seconds of the receiving machine."""
    if retained:
        raise StaleCommand(
            where,
            "a retained message (it would be applied again on every start); send commands without the "
            f"retain flag, and clear this one with: mosquitto_pub -r -n -t '{where}'",
        )
    if cmd.sent_t is None:
        return
    age_s = now_t - cmd.sent_t
    if age_s > MAX_COMMAND_AGE_S:
        raise StaleCommand(where, f"sent {age_s:.0f} s ago, more than {MAX_COMMAND_AGE_S:g} s")
    if cmd.sent_t < started_t:
        raise StaleCommand(where, "sent before the service started")
    if -age_s > MAX_CLOCK_AHEAD_S:
        raise StaleCommand(
            where, f"sent {-age_s:.0f} s in the future: the sender's clock or this machine's is off"
        )


def check_feedback_owner(cmd: Feedback, owner: str | None, where: str) -> None:
    """Feedback is only for the user's own prompts: ``owner`` is the user the archive has for the prompt id
    (None: no such prompt). Unknown and another user's prompt give the same answer (nothing is revealed)."""
    if owner != cmd.user:
        raise NotOwnPrompt(where, cmd.user)


def check_practice_free(user: str, remaining_s: float | None, where: str) -> None:
    """One practice at a time: refuse while a practice of ``user`` runs (``remaining_s``: how long it still
    runs, for the message; None: none runs)."""
    if remaining_s is not None:
        raise PracticeRunning(where, user, remaining_s)
