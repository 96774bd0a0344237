"""Inbound commands: validated, every bad payload a CommandError naming the topic."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.commands import Feedback, Practice, Snooze, parse_command
from alerts.errors import CommandError

TOPIC = "calmstrap/me/command"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"command": "snooze", "minutes": 30}', Snooze("me", 30.0)),
        (b'{"schema": "calmstrap.command/1", "command": "snooze", "minutes": 0}', Snooze("me", 0.0)),
        (b'{"command": "feedback", "prompt_id": "me-1", "helped": false}', Feedback("me", "me-1", False)),
        (b'{"command": "practice"}', Practice("me", 2.0, 6.0)),
        (b'{"command": "practice", "minutes": 5, "breaths_per_min": 5.5}', Practice("me", 5.0, 5.5)),
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
