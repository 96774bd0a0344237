"""Inbound commands: validated, every bad payload a CommandError naming the topic."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.commands import (
    MAX_COMMAND_AGE_S,
    Feedback,
    Practice,
    Snooze,
    check_feedback_owner,
    check_fresh,
    check_practice_free,
    command_from_object,
    parse_command,
)
from alerts.errors import CommandError, NotOwnPrompt, PracticeRunning, StaleCommand
from alerts.payloads import COMMAND_SCHEMA

TOPIC = "calmstrap/me/command"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"command": "snooze", "minutes": 30}', Snooze("me", 30.0)),
        (b'{"schema": "calmstrap.command/1", "command": "snooze", "minutes": 0}', Snooze("me", 0.0)),
        (b'{"command": "feedback", "prompt_id": "me-1", "helped": false}', Feedback("me", "me-1", False)),
        (b'{"command": "practice"}', Practice("me", 2.0, 6.0)),
        (b'{"command": "practice", "minutes": 5, "breaths_per_min": 5.5}', Practice("me", 5.0, 5.5)),
        (b'{"command": "snooze", "minutes": 1440, "t": 1767000000.5}', Snooze("me", 1440.0, 1767000000.5)),
    ],
)
def test_valid_commands_parse(payload: bytes, expected: object) -> None:
    """Each command parses into its dataclass, the user taken from the topic."""
    assert parse_command(TOPIC, payload, "calmstrap") == expected


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{oops",
        b"\xff",
        b"42",
        b'{"minutes": 3}',
        b'{"command": "dance"}',
        b'{"command": "snooze"}',
        b'{"command": "snooze", "minutes": "10"}',
        b'{"command": "snooze", "minutes": true}',
        b'{"command": "snooze", "minutes": 1e9}',
        b'{"command": "feedback", "prompt_id": "", "helped": true}',
        b'{"command": "feedback", "prompt_id": "x", "helped": "yes"}',
        b'{"command": "practice", "breaths_per_min": 30}',
        b'{"schema": "other/9", "command": "snooze", "minutes": 5}',
        b'{"command": "snooze", "minutes": 5, "pad": "' + b"x" * 5000 + b'"}',
        b'{"command": "snooze", "minutes": ' + b"9" * 400 + b"}",
        b"[" * 2000 + b"]" * 2000,
        b'{"command": "snooze", "minutes": NaN}',
        b'{"command": "snooze", "minutes": 1441}',
        b'{"command": "snooze", "minutes": 5, "t": "now"}',
        b'{"command": "snooze", "minutes": 5, "t": null}',
        b'{"command": "snooze", "minutes": 5, "t": -1}',
    ],
)
def test_bad_commands_raise_command_error_with_the_topic(payload: bytes) -> None:
    """Bad JSON, wrong types, out-of-range values, unknown commands: CommandError naming the topic."""
    with pytest.raises(CommandError) as info:
        parse_command(TOPIC, payload, "calmstrap")
    assert info.value.topic == TOPIC and TOPIC in str(info.value)


def test_a_command_on_another_topic_is_refused() -> None:
    """Only <base>/<user>/command is a command topic."""
    with pytest.raises(CommandError):
        parse_command("calmstrap/me/state", b'{"command": "snooze", "minutes": 5}', "calmstrap")


@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
@settings(max_examples=300, deadline=None)
def test_any_payload_is_a_command_or_a_command_error(payload: bytes) -> None:
    """Whatever the bytes, parsing returns a command or raises CommandError, nothing else."""
    try:
        out = parse_command(TOPIC, payload, "calmstrap")
    except CommandError:
        return
    assert isinstance(out, Snooze | Feedback | Practice)


NOW = 1_767_000_000.0
STARTED = NOW - 3600.0


def test_a_retained_command_is_stale_whatever_its_time() -> None:
    """Delivered with the retain flag: refused, with how to clear it."""
    with pytest.raises(StaleCommand, match="retain") as info:
        check_fresh(Snooze("me", 30.0, NOW), TOPIC, now_t=NOW, started_t=STARTED, retained=True)
    assert f"mosquitto_pub -r -n -t '{TOPIC}'" in str(info.value)


@pytest.mark.parametrize(
    ("sent_t", "why"),
    [
        (NOW - MAX_COMMAND_AGE_S - 1.0, "ago"),
        (STARTED - 1.0, "ago"),
        (NOW + 120.0, "future"),
    ],
)
def test_an_old_or_future_command_time_is_stale(sent_t: float, why: str) -> None:
    """A t over a minute old, or over a minute ahead, is refused."""
    with pytest.raises(StaleCommand, match=why):
        check_fresh(Snooze("me", 30.0, sent_t), TOPIC, now_t=NOW, started_t=STARTED)


def test_a_command_sent_before_the_service_started_is_stale() -> None:
    """A t before the start is refused even when it is within the minute."""
    with pytest.raises(StaleCommand, match="before the service started"):
        check_fresh(Snooze("me", 30.0, NOW - 10.0), TOPIC, now_t=NOW, started_t=NOW - 5.0)


@pytest.mark.parametrize("sent_t", [None, NOW, NOW - 30.0, NOW + 30.0])
def test_a_fresh_command_passes(sent_t: float | None) -> None:
    """No t, or a t within a minute either way after the start: accepted."""
    check_fresh(Snooze("me", 30.0, sent_t), TOPIC, now_t=NOW, started_t=STARTED)


@pytest.mark.parametrize("owner", [None, "u0"])
def test_feedback_on_a_prompt_that_is_not_the_users_is_refused(owner: str | None) -> None:
    """Unknown and another user's prompt ids give the same refusal, naming neither the other user."""
    with pytest.raises(NotOwnPrompt) as info:
        check_feedback_owner(Feedback("u1", "u0-20260101T101500-1", True), owner, TOPIC)
    assert "u1" in str(info.value) and "u0" not in str(info.value)


def test_feedback_on_the_users_own_prompt_passes() -> None:
    """The owner matches: accepted."""
    check_feedback_owner(Feedback("u1", "u1-20260101T101500-1", True), "u1", TOPIC)


def test_a_second_practice_while_one_runs_is_refused() -> None:
    """A running practice (any time left) refuses another; none running accepts."""
    with pytest.raises(PracticeRunning, match="already running"):
        check_practice_free("me", 42.0, TOPIC)
    check_practice_free("me", None, TOPIC)


def test_the_page_and_mqtt_share_one_validation() -> None:
    """command_from_object (the page) and parse_command (MQTT) give the same command and refusals."""
    obj = {"command": "practice", "minutes": 3, "t": NOW}
    assert command_from_object("me", obj, "/api/command") == parse_command(
        TOPIC, json.dumps(obj).encode(), "calmstrap"
    )
    with pytest.raises(CommandError, match="user id"):
        command_from_object("Me Me", obj, "/api/command")


@given(
    st.dictionaries(
        st.sampled_from(["command", "minutes", "prompt_id", "helped", "breaths_per_min", "schema", "t"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=5)
        | st.sampled_from(["snooze", "feedback", "practice", "calmstrap.command/1"]),
    )
)
@settings(max_examples=500, deadline=None)
def test_the_json_schema_accepts_exactly_what_the_parser_accepts(obj: dict[str, object]) -> None:
    """COMMAND_SCHEMA (data in alerts/payloads.py) and parse_command agree on every near-valid object."""
    import jsonschema

    schema_ok = jsonschema.Draft202012Validator(COMMAND_SCHEMA).is_valid(obj)
    try:
        parse_command(TOPIC, json.dumps(obj).encode(), "calmstrap")
        parsed = True
    except CommandError:
        parsed = False
    assert parsed == schema_ok


@given(
    st.dictionaries(
        st.sampled_from(["command", "minutes", "prompt_id", "helped", "breaths_per_min", "schema"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=5)
        | st.sampled_from(["snooze", "feedback", "practice"]),
    )
)
@settings(max_examples=300, deadline=None)
def test_any_json_object_is_a_command_or_a_command_error(obj: dict[str, object]) -> None:
    """Near-valid JSON objects: a command or CommandError, nothing else (NaN and infinities included)."""
    payload = json.dumps(obj).encode()
    try:
        out = parse_command(TOPIC, payload, "calmstrap")
    except CommandError:
        return
    assert isinstance(out, Snooze | Feedback | Practice)


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_topic_gives_a_command_for_a_valid_user_or_a_command_error(user: str) -> None:
    """Whatever stands in the user level, the command carries a valid user id or is refused."""
    from sensors.ids import is_user_id

    try:
        out = parse_command(f"calmstrap/{user}/command", b'{"command": "snooze", "minutes": 5}', "calmstrap")
    except CommandError as exc:
        assert "\n" not in str(exc)
        return
    assert out.user == user and is_user_id(out.user)
