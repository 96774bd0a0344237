"""The values of the configuration and their messages: :class:`ConfigError`, URLs (:func:`parse_url`),
daily time ranges, number ranges, the private data directory, and how a value is shown in a message (never
a secret: :func:`display_value`). :mod:`calmstrap.config` uses these and re-exports them; other settings
(NATS, push URLs, the page) use :func:`parse_url` and :func:`display_value` too."""

from __future__ import annotations

import logging
import os
import re
import stat
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from sensors.ids import shown

log = logging.getLogger("calmstrap.config")

_SECRET_KEY = re.compile(r"(^|[._])(password|token|secret)$")


def redact_url(url: str) -> str:
    """``url`` with the password of a ``user:password@`` part replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, hostport = rest.rsplit("@", 1)  # a password may hold "/" or "@": everything up to the last "@"
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{hostport}"


def display_value(key: str, value: object) -> str:
    """A config value for a message: secrets as ``'***'``, URLs without their password, long values
    shortened, control characters escaped."""
    if _SECRET_KEY.search(key) and value not in ("", None):
        return "'***'"
    if isinstance(value, str) and "://" in value:
        value = redact_url(value)
    return shown(value)


class ConfigError(ValueError):
    """A configuration value that cannot be used: ``key`` is ``section.key``.

    The message shows the value through :func:`display_value` (never a secret); ``detail``, when given,
    replaces the "expected ..." part (a user id's error reads the same everywhere)."""

    def __init__(
        self, key: str, value: object, expected: str, source: str, *, detail: str | None = None
    ) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        self.source = source
        if detail is not None:
            super().__init__(f"config error: {key} (from {source}): {detail}")
        else:
            super().__init__(
                f"config error: {key} = {display_value(key, value)} (from {source}): expected {expected}"
            )


@dataclass(frozen=True, slots=True)
class Url:
    """A parsed service URL (no credentials: they are refused): ``scheme``, ``host``, ``port``, ``path``."""

    scheme: str
    host: str
    port: int
    path: str = ""

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def parse_url(
    key: str,
    value: str,
    schemes: Mapping[str, int],
    *,
    source: str = "config",
    allow_path: bool = False,
    credentials_hint: str = "",
) -> Url:
    """Parse a service URL at load; a :class:`ConfigError` names ``key`` (and never shows a password).

    ``schemes`` maps each accepted scheme to its default port (``{"mqtt": 1883, "mqtts": 8883}``). The
    port must be 1-65535; a host is required; a path only with ``allow_path``; no query, fragment,
    whitespace or credentials (``credentials_hint`` says where they go instead)."""
    forms = " or ".join(f"{s}://host[:port]" + ("[/path]" if allow_path else "") for s in schemes)

    def bad(expected: str) -> ConfigError:
        return ConfigError(key, value, expected, source)

    if not isinstance(value, str) or not value or any(c.isspace() or not c.isprintable() for c in value):
        raise bad(forms)
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        raise bad(forms) from None
    if parts.scheme.lower() not in schemes:
        raise bad(forms)
    if parts.username is not None or parts.password is not None or "@" in value.partition("://")[2]:
        where = credentials_hint or f"{key.rsplit('.', 1)[0]}.username and a password file or variable"
        raise bad(f"a URL without credentials (user:password@): put them in {where}")
    if not parts.hostname:
        raise bad(f"{forms}: the host is missing")
    try:
        port = parts.port
    except ValueError:
        raise bad(f"{forms}: the port must be a number from 1 to 65535") from None
    if port == 0:
        raise bad(f"{forms}: the port must be a number from 1 to 65535")
    path = parts.path.rstrip("/")
    if (path and not allow_path) or parts.query or parts.fragment or "?" in value or "#" in value:
        raise bad(forms)
    scheme = parts.scheme.lower()
    return Url(scheme, parts.hostname, port or schemes[scheme], path)


@dataclass(frozen=True)
class TimeRange:
    """A daily time range ``HH:MM-HH:MM`` that may wrap midnight; equal ends mean "never"."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """``HH:MM-HH:MM``: hours 0-23, minutes 0-59; ``24:00`` is accepted as midnight. ValueError else."""
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not m:
            raise ValueError(text)
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        for h, mm in ((h1, m1), (h2, m2)):
            if not (0 <= h <= 23 and 0 <= mm <= 59) and (h, mm) != (24, 0):
                raise ValueError(text)
        return cls(time(h1 % 24, m1), time(h2 % 24, m2))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Range:
    """The allowed values of a number: ``lo`` to ``hi``; ``lo_open``: ``lo`` itself not allowed."""

    lo: float
    hi: float
    lo_open: bool = False

    def __contains__(self, x: float) -> bool:
        return (self.lo < x if self.lo_open else self.lo <= x) and x <= self.hi

    def describe(self) -> str:
        if self.lo_open:
            return f"above {self.lo:g} and at most {self.hi:g}"
        return f"from {self.lo:g} to {self.hi:g}"


def make_private_dir(path: Path) -> bool:
    """An existing directory that group or others may read or enter is set to 0700, with a WARNING (the
    archive and exports in it are health data); True when it was changed. Missing: nothing to do."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if not stat.S_ISDIR(mode) or not mode & 0o077:
        return False
    try:
        os.chmod(path, 0o700)
    except OSError as exc:
        log.warning(
            "data directory %s is open to other users (mode %o) and could not be made private: %s",
            path,
            stat.S_IMODE(mode),
            exc.strerror or exc,
        )
        return False
    log.warning(
        "data directory %s was open to other users (mode %o); set to 0700 (only you)",
        path,
        stat.S_IMODE(mode),
    )
    return True
