"""The one user-id type: a safe alphabet, one message for every refusal, and the same text everywhere."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.homeassistant import device_id, discovery_payload
from exports.files import safe_name
from sensors.ids import MAX_USER_ID_LEN, USER_ID_RULE, InvalidUserId, is_user_id, parse_user_id
from storage.influx import escape_key

HOSTILE = ["a/b", "a+b", "a#b", "a b", "trail\\", "", "../x", "a\nb", "x" * 5000]
VALID = ["ana", "u0", "client_07", "0", "a" * MAX_USER_ID_LEN]


@pytest.mark.parametrize("value", VALID)
def test_valid_ids_are_returned_unchanged(value: str) -> None:
    """A valid id parses to the same text."""
    assert parse_user_id(value) == value


@pytest.mark.parametrize(
    "value", [*HOSTILE, "Ana", "a-b", "a.b", "a__b", "_a", "a_", "a" * (MAX_USER_ID_LEN + 1), "é", 7, None]
)
def test_other_values_are_refused_with_the_rule(value: object) -> None:
    """Anything outside the alphabet is an InvalidUserId naming the value and the rule."""
    with pytest.raises(InvalidUserId) as info:
        parse_user_id(value)
    assert USER_ID_RULE in str(info.value)
    assert info.value.value == value


def test_a_long_id_is_shortened_and_a_newline_escaped_in_the_message() -> None:
    """The message stays one short line: a 5,000-character id is cut, a newline shown as \\n."""
    long_msg = str(InvalidUserId("x" * 5000))
    assert len(long_msg) < 400 and "5000 characters" in long_msg
    nl_msg = str(InvalidUserId("a\nb"))
    assert "\n" not in nl_msg and "'a\\nb'" in nl_msg


def test_the_hint_is_a_valid_id_close_to_the_value() -> None:
    """'Ana Maria' suggests 'ana_maria'; a value with nothing usable suggests nothing."""
    assert InvalidUserId("Ana Maria").hint == "ana_maria"
    assert InvalidUserId("../x").hint == "x"
    assert InvalidUserId("///").hint is None


def _ha_slug(text: str) -> str:
    """Home Assistant's entity-id slug (python-slugify with "_"): lower case, other characters as "_",
    repeats collapsed, stripped at the ends."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", text.lower())).strip("_")


@given(st.text(alphabet="ab_-.A/ \\", max_size=6))
@settings(max_examples=400, deadline=None)
def test_a_valid_id_is_the_same_text_in_every_place_it_goes(value: str) -> None:
    """Topic level, InfluxDB tag, file name, Home Assistant device and entity ids: all the id as is."""
    if not is_user_id(value):
        return
    assert escape_key(value) == value
    assert safe_name(value) == value
    assert device_id(value) == f"calmstrap_{value}"
    assert _ha_slug(f"calmstrap {value} prompt") == f"calmstrap_{value}_prompt"
    assert "/" not in value and "+" not in value and "#" not in value


def test_home_assistant_discovery_refuses_an_invalid_id() -> None:
    """The discovery payload is only built for valid ids (no two users share a device id)."""
    assert discovery_payload("calmstrap", "ana", "0")["dev"]["ids"] == ["calmstrap_ana"]
    with pytest.raises(InvalidUserId):
        discovery_payload("calmstrap", "a b", "0")
