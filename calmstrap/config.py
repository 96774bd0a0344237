"""Configuration: defaults < ``calmstrap.toml`` (or ``--config FILE``) < environment variables.

Environment variables are named ``CALMSTRAP_<SECTION>__<KEY>`` (for example
``CALMSTRAP_POLICY__COOLDOWN_MIN=20``). Every value is checked at load, before any command touches data; a
bad one raises :class:`ConfigError` naming the key, where it came from and what it expects:

* URLs are parsed (:func:`parse_url`: scheme, host, a port 1-65535); credentials in a URL
  (``mqtt://user:password@host``) are refused with a pointer to the keys that hold them (``username``,
  ``password_file`` or the ``..._PASSWORD`` environment variable): a URL is printed, logged and kept in
  shell history, a password file is not;
* numbers are range-checked from one table (:data:`RANGES`), with the pairs that must be ordered
  (``elevated_a < high_a``, ``reconnect_min_s <= reconnect_max_s``, a window no shorter than its step);
* quiet hours are a real ``HH:MM-HH:MM`` (hours 0-23, ``24:00`` as an end);
* user ids (``[general] user``, ``[[straps]] user``) follow :mod:`sensors.ids`.

Secrets (passwords, tokens) come from the environment or from files; they are never part of a repr, and
every message shows them as ``***`` (a URL's password too). :meth:`Config.data_dir` makes the data
directory private: an existing one that group or others may enter is set to 0700, with a WARNING.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import stat
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, get_type_hints

from sensors.ids import InvalidUserId, parse_user_id, shown

ENV_PREFIX = "CALMSTRAP_"
DEFAULT_CONFIG_NAME = "calmstrap.toml"
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


@dataclass(frozen=True)
class GeneralConfig:
    user: str = "me"
    data_dir: str = ""
    """Empty: ``$XDG_DATA_HOME/calmstrap`` (``~/.local/share/calmstrap``)."""
    log_level: str = "INFO"


@dataclass(frozen=True)
class ProcessingConfig:
    fast_window_s: float = 60.0
    fast_step_s: float = 5.0
    slow_window_s: float = 300.0
    slow_step_s: float = 30.0
    max_artifact_pct: float = 5.0
    baseline_min_minutes: float = 30.0
    """Distinct (non-overlapping) minutes of ordinary 60 s windows before the baseline is personal."""
    ema_tau_s: float = 20.0
    elevated_a: float = 0.5
    high_a: float = 1.5


@dataclass(frozen=True)
class PolicyConfig:
    cooldown_min: float = 15.0
    max_per_hour: int = 2
    quiet_hours: TimeRange = field(default_factory=lambda: TimeRange(time(22, 0), time(7, 0)))
    escalate_after_s: float = 180.0
    expiry_s: float = 120.0
    recovery_message: bool = True


@dataclass(frozen=True)
class MqttConfig:
    url: str = ""
    """Empty: no broker, prompts go to the console. ``mqtt://host:1883`` or ``mqtts://host:8883``."""
    base_topic: str = "calmstrap"
    client_id: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    homeassistant: bool = True
    discovery_prefix: str = "homeassistant"
    state_interval_s: float = 5.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0


@dataclass(frozen=True)
class InfluxConfig:
    url: str = ""
    """Empty: no InfluxDB (the archive still keeps everything)."""
    api: str = "v2"
    org: str = ""
    bucket: str = "calmstrap"
    token: str = field(default="", repr=False)
    token_file: str = ""
    database: str = "calmstrap"
    retention_policy: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    batch_size: int = 5000
    flush_interval_s: float = 5.0


@dataclass(frozen=True)
class StrapConfig:
    user: str = "me"
    address: str = ""
    name: str = ""
    motion: bool = True
    """Also stream the accelerometer where the strap offers it (Polar's PMD service): motion, not HR, then
    gates exercise, and a turn of the gravity vector marks a posture change. Straps without it ignore it."""


@dataclass(frozen=True)
class Config:
    general: GeneralConfig = field(default_factory=GeneralConfig)
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    influx: InfluxConfig = field(default_factory=InfluxConfig)
    straps: tuple[StrapConfig, ...] = ()

    def data_dir(self, override: str | None = None) -> Path:
        """The data directory (``override``: ``--data-dir``), made private when it exists already
        (:func:`make_private_dir`); a new one is created 0700 by the archive."""
        if override:
            path = Path(override).expanduser()
        elif self.general.data_dir:
            path = Path(self.general.data_dir).expanduser()
        else:
            xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
            path = Path(xdg) / "calmstrap"
        make_private_dir(path)
        return path


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


RANGES: Mapping[str, Range] = {
    "processing.fast_window_s": Range(10.0, 600.0),
    "processing.fast_step_s": Range(0.0, 600.0, lo_open=True),
    "processing.slow_window_s": Range(10.0, 3600.0),
    "processing.slow_step_s": Range(0.0, 3600.0, lo_open=True),
    "processing.max_artifact_pct": Range(0.0, 100.0),
    "processing.baseline_min_minutes": Range(1.0, 100_000.0),
    "processing.ema_tau_s": Range(0.0, 3600.0, lo_open=True),
    "processing.elevated_a": Range(0.0, 10.0, lo_open=True),
    "processing.high_a": Range(0.0, 10.0, lo_open=True),
    "policy.cooldown_min": Range(0.0, 24 * 60.0),
    "policy.max_per_hour": Range(0, 1_000_000),  # 0: no prompts; the load benchmark lifts the cap
    "policy.escalate_after_s": Range(0.0, 3600.0, lo_open=True),
    "policy.expiry_s": Range(1.0, 3600.0),
    "mqtt.state_interval_s": Range(0.0, 3600.0, lo_open=True),
    "mqtt.reconnect_min_s": Range(0.0, 3600.0, lo_open=True),
    "mqtt.reconnect_max_s": Range(0.0, 3600.0, lo_open=True),
    "influx.batch_size": Range(1, 1_000_000),
    "influx.flush_interval_s": Range(0.0, 3600.0, lo_open=True),
}
"""Allowed ranges of the numeric keys (``section.key``); a number key not listed must be >= 0 when its name
ends in a unit (``_s``, ``_min``, ``_pct``, ...)."""

ORDERED: tuple[tuple[str, str, bool], ...] = (
    ("processing.elevated_a", "processing.high_a", True),
    ("processing.fast_step_s", "processing.fast_window_s", False),
    ("processing.slow_step_s", "processing.slow_window_s", False),
    ("processing.fast_window_s", "processing.slow_window_s", False),
    ("mqtt.reconnect_min_s", "mqtt.reconnect_max_s", False),
)
"""Pairs ``(low, high, strict)``: the value of ``high`` must be above (strict) or at least that of ``low``."""

URL_SCHEMES: Mapping[str, Mapping[str, int]] = {
    "mqtt.url": {"mqtt": 1883, "mqtts": 8883},
    "influx.url": {"http": 8086, "https": 8086},
}
_URL_PATHS = frozenset({"influx.url"})
_CREDENTIALS_HINT: Mapping[str, str] = {
    "mqtt.url": "mqtt.username and mqtt.password_file (or CALMSTRAP_MQTT__PASSWORD)",
    "influx.url": "influx.token_file (v2) or influx.username and influx.password_file (v1)",
}
_USER_KEY = re.compile(r"^(general|straps\[\d+\])\.user$")


_CHOICES: Mapping[str, tuple[str, ...]] = {
    "influx.api": ("v1", "v2"),
    "general.log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
}
_REPLACED: Mapping[str, str] = {
    "processing.baseline_min_windows": "nothing: it was replaced by processing.baseline_min_minutes, the "
    "distinct (non-overlapping) minutes of 60 s windows before the baseline is personal (default 30)",
}
_POSITIVE = re.compile(r"(_s|_min|_minutes|_windows|per_hour|batch_size|_pct)$")


def _convert(key: str, typ: Any, value: object, source: str) -> object:
    if typ is str and _USER_KEY.match(key):
        try:
            return parse_user_id(value)
        except InvalidUserId as exc:
            raise ConfigError(key, value, "", source, detail=str(exc)) from None
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in (
                "1",
                "true",
                "yes",
                "on",
                "0",
                "false",
                "no",
                "off",
            ):
                return value.strip().lower() in ("1", "true", "yes", "on")
            raise ValueError
        if typ is int:
            if isinstance(value, bool):
                raise ValueError
            out_i = int(value) if isinstance(value, int) else int(str(value).strip())
            if not _in_range(key, out_i):
                raise ValueError
            return out_i
        if typ is float:
            if isinstance(value, bool):
                raise ValueError
            out_f = float(value) if isinstance(value, int | float) else float(str(value).strip())
            if out_f != out_f or out_f in (float("inf"), float("-inf")):
                raise ValueError
            if not _in_range(key, out_f):
                raise ValueError
            return out_f
        if typ is TimeRange:
            return value if isinstance(value, TimeRange) else TimeRange.parse(str(value))
        if typ is str:
            if not isinstance(value, str):
                raise ValueError
            choices = _CHOICES.get(key)
            if choices:
                v = value.strip()
                v = v.upper() if key == "general.log_level" else v.lower()
                if v not in choices:
                    raise ValueError
                return v
            return value
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError(f"unsupported config type for {key}: {typ}")
    raise ConfigError(key, value, _expected(key, typ), source)


def _in_range(key: str, x: float) -> bool:
    rng = RANGES.get(key)
    if rng is not None:
        return x in rng
    return not (_POSITIVE.search(key) and x < 0)


def _expected(key: str, typ: Any) -> str:
    if key in _CHOICES:
        return "one of " + ", ".join(_CHOICES[key])
    if typ is bool:
        return "true or false"
    if typ is TimeRange:
        return "a daily time range HH:MM-HH:MM, e.g. 22:00-07:00"
    unit = ""
    for suffix, word in (
        ("_s", " (seconds)"),
        ("_min", " (minutes)"),
        ("_minutes", " (minutes)"),
        ("_pct", " (percent)"),
    ):
        if key.endswith(suffix):
            unit = word
    rng = RANGES.get(key)
    kind = "a whole number" if typ is int else "a number"
    if rng is not None:
        return f"{kind} {rng.describe()}{unit}"
    if typ is int or typ is float:
        return (f"{kind} >= 0" if _POSITIVE.search(key) else kind) + unit
    return "a string"


def _section(cls: type[Any], name: str, values: Mapping[str, tuple[object, str]]) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, object] = {}
    known = {f.name for f in dataclasses.fields(cls)}
    for key, (value, source) in values.items():
        if f"{name}.{key}" in _REPLACED:
            raise ConfigError(f"{name}.{key}", value, _REPLACED[f"{name}.{key}"], source)
        if key not in known:  # the value is not shown: a misspelt secret key would print the secret
            raise ConfigError(f"{name}.{key}", "...", "a known key: " + ", ".join(sorted(known)), source)
        kwargs[key] = _convert(f"{name}.{key}", hints[key], value, source)
    return cls(**kwargs)


_SECTIONS: Mapping[str, type[Any]] = {
    "general": GeneralConfig,
    "processing": ProcessingConfig,
    "policy": PolicyConfig,
    "mqtt": MqttConfig,
    "influx": InfluxConfig,
}


def _read_secret_file(key: str, path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(key, path, f"a readable file ({exc.strerror})", "config") from None


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and check the configuration. ``path`` None: ``./calmstrap.toml`` if it exists."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    source_file = "defaults"
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = DEFAULT_CONFIG_NAME
    if path is not None:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                "--config", str(p), f"a readable TOML file ({exc.strerror})", "command line"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", str(p), f"valid TOML ({exc})", "command line") from None
        source_file = str(p)
    values: dict[str, dict[str, tuple[object, str]]] = {name: {} for name in _SECTIONS}
    for name, table in raw.items():
        if name == "straps":
            continue
        if name not in _SECTIONS:
            raise ConfigError(name, "...", "a section: " + ", ".join([*_SECTIONS, "straps"]), source_file)
        if not isinstance(table, dict):
            raise ConfigError(name, table, "a table [" + name + "]", source_file)
        for k, v in table.items():
            values[name][k] = (v, source_file)
    for var, v in env.items():
        if not var.startswith(ENV_PREFIX) or "__" not in var[len(ENV_PREFIX) :]:
            continue
        section, key = var[len(ENV_PREFIX) :].split("__", 1)
        section, key = section.lower(), key.lower()
        if section not in _SECTIONS:
            raise ConfigError(f"{section}.{key}", "...", "a section: " + ", ".join(_SECTIONS), var)
        values[section][key] = (v, var)
    sections = {name: _section(cls, name, values[name]) for name, cls in _SECTIONS.items()}
    straps_raw = raw.get("straps", [])
    if not isinstance(straps_raw, list):
        raise ConfigError("straps", straps_raw, "an array of tables [[straps]]", source_file)
    straps = []
    for i, s in enumerate(straps_raw):
        if not isinstance(s, dict):
            raise ConfigError(f"straps[{i}]", s, "a table with user and address or name", source_file)
        strap = _section(StrapConfig, f"straps[{i}]", {k: (v, source_file) for k, v in s.items()})
        if not strap.address and not strap.name:
            raise ConfigError(f"straps[{i}]", s, "an address or a name", source_file)
        straps.append(strap)
    for full, schemes in URL_SCHEMES.items():
        section, key = full.split(".", 1)
        url = getattr(sections[section], key)
        if url:
            parse_url(
                full,
                url,
                schemes,
                source=_src(values, section, key),
                allow_path=full in _URL_PATHS,
                credentials_hint=_CREDENTIALS_HINT.get(full, ""),
            )
    for low, high, strict in ORDERED:
        (s_lo, k_lo), (s_hi, k_hi) = low.split(".", 1), high.split(".", 1)
        v_lo, v_hi = getattr(sections[s_lo], k_lo), getattr(sections[s_hi], k_hi)
        if v_hi < v_lo or (strict and v_hi == v_lo):
            raise ConfigError(
                high,
                v_hi,
                f"{'above' if strict else 'at least'} {low} ({v_lo:g})",
                _src(values, s_hi, k_hi),
            )
    mqtt: MqttConfig = sections["mqtt"]
    if not mqtt.password and mqtt.password_file:
        mqtt = dataclasses.replace(mqtt, password=_read_secret_file("mqtt.password_file", mqtt.password_file))
    influx: InfluxConfig = sections["influx"]
    if not influx.token and influx.token_file:
        influx = dataclasses.replace(influx, token=_read_secret_file("influx.token_file", influx.token_file))
    if not influx.password and influx.password_file:
        influx = dataclasses.replace(
            influx, password=_read_secret_file("influx.password_file", influx.password_file)
        )
    return Config(
        general=sections["general"],
        processing=sections["processing"],
        policy=sections["policy"],
        mqtt=mqtt,
        influx=influx,
        straps=tuple(straps),
    )


def _src(values: Mapping[str, Mapping[str, tuple[object, str]]], section: str, key: str) -> str:
    entry = values.get(section, {}).get(key)
    return entry[1] if entry else "defaults"
