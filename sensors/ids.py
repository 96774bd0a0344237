"""The one user-id type, checked once where an id enters calmstrap and used as is everywhere after.

A user id is 1 to 64 characters: lower-case letters ``a-z`` and digits ``0-9``, in words joined by single
underscores (``ana``, ``u0``, ``client_07``). Nothing else is accepted, so one id maps to the same text
everywhere, unchanged and without escaping: MQTT topic levels (``calmstrap/<user>/prompt``), NATS subject
tokens, InfluxDB tag values, Home Assistant ids (``calmstrap_<user>``, entity ids such as
``event.calmstrap_<user>_prompt``) and file names (``<user>_report.pdf``). Why so narrow:

* ``/ + #`` and spaces are topic and subject syntax, ``\\`` ``,`` ``=`` and spaces need escaping in
  InfluxDB's line protocol, ``/``, ``..`` and very long names are path and file-name trouble;
* Home Assistant turns an entity's name into its entity id by lower-casing and replacing every other
  character by ``_``, collapsing repeated ``_`` and stripping them at the ends: with upper case, ``-``,
  ``.``, ``__`` or a leading or trailing ``_`` two different ids would end up as the same entity;
* file systems that ignore case (macOS, Windows) would merge ``Ana`` and ``ana``.

Entry points (config ``[general] user`` and ``[[straps]] user``, every ``--user`` and ``--label`` of the
command line, ``import``, MQTT command topics, the web page) call :func:`parse_user_id`; a refused value
gives the same message everywhere: :class:`InvalidUserId` names the value (shortened when long, with
control characters escaped) and the rule.
"""

from __future__ import annotations

import re
from typing import NewType

from sensors.errors import SensorError

UserId = NewType("UserId", str)
"""A checked user id (see the module docstring); make one with :func:`parse_user_id`."""

MAX_USER_ID_LEN = 64
USER_ID_PATTERN = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
USER_ID_RULE = (
    f"1 to {MAX_USER_ID_LEN} lower-case letters a-z and digits 0-9, in words joined by single "
    "underscores (e.g. 'ana' or 'client_07')"
)
_SHOWN_MAX = 40


def shown(value: object) -> str:
    """``value`` for an error message: its repr (control characters escaped), shortened when long."""
    if not isinstance(value, str):
        return f"{type(value).__name__} {value!r}"[: _SHOWN_MAX + 20]
    if len(value) <= _SHOWN_MAX:
        return repr(value)
    return f"{value[:_SHOWN_MAX]!r}... ({len(value)} characters)"


class InvalidUserId(SensorError, ValueError):
    """A user id outside the safe alphabet: ``value`` as given, ``hint`` a valid id close to it if any."""

    def __init__(self, value: object) -> None:
        self.value = value
        self.hint = _suggest(value) if isinstance(value, str) else None
        hint = f"; perhaps {self.hint!r}" if self.hint else ""
        super().__init__(f"user id {shown(value)} is not valid: expected {USER_ID_RULE}{hint}")


def _suggest(value: str) -> str | None:
    words = re.findall(r"[a-z0-9]+", value.lower())
    candidate = "_".join(words)[:MAX_USER_ID_LEN].rstrip("_")
    return candidate if candidate and candidate != value and is_user_id(candidate) else None


def is_user_id(value: object) -> bool:
    """True when ``value`` is a valid user id."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_USER_ID_LEN
        and USER_ID_PATTERN.fullmatch(value) is not None
    )


def parse_user_id(value: object) -> UserId:
    """``value`` as a :data:`UserId`; raises :class:`InvalidUserId` when it is not one."""
    if not is_user_id(value):
        raise InvalidUserId(value)
    assert isinstance(value, str)
    return UserId(value)
