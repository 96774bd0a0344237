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
The value types and their messages live in :mod:`calmstrap.config_values` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, time, tzinfo
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calmstrap.config_values import ConfigError as ConfigError
from calmstrap.config_values import Range as Range
from calmstrap.config_values import TimeRange as TimeRange
from calmstrap.config_values import Url as Url
from calmstrap.config_values import display_value as display_value
from calmstrap.config_values import make_private_dir as make_private_dir
from calmstrap.config_values import parse_url as parse_url
from calmstrap.config_values import redact_url as redact_url
from sensors.ids import InvalidUserId, parse_user_id

ENV_PREFIX = "CALMSTRAP_"
DEFAULT_CONFIG_NAME = "calmstrap.toml"


@dataclass(frozen=True)
class GeneralConfig:
    user: str = "me"
    data_dir: str = ""
    """Empty: ``$XDG_DATA_HOME/calmstrap`` (``~/.local/share/calmstrap``)."""
    log_level: str = "INFO"
    timezone: str = ""
    """The person's IANA time zone (``America/New_York``) for quiet hours, days and weeks; empty: the system's."""


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
    disabled_kinds: tuple[str, ...] = ()
    """Prompt kinds never sent (e.g. ``["urge_surfing"]``); see alerts.catalog.PromptKind."""
    control_probability: float = 0.25
    """Probability of holding a prompt back as a control (0 turns controls off)."""


@dataclass(frozen=True)
class WebConfig:
    """The person's page (web/): where it listens and the token any address but loopback needs."""

    listen: str = "127.0.0.1:8421"
    """``HOST:PORT`` or ``PORT``; empty or ``off``: no page. Any host but 127.0.0.1/::1/localhost needs a token."""
    token: str = field(default="", repr=False)
    token_file: str = ""
    public_url: str = ""
    """The page's address as a phone reaches it (for links in pushes); empty: from ``listen``."""


@dataclass(frozen=True)
class NotifyConfig:
    """Phone pushes through Apprise URLs (ntfy://, gotifys://, pover://, tgram://, json://, ...)."""

    urls: tuple[str, ...] = field(default=(), repr=False)
    """Apprise URLs hold secrets: from the environment (``CALMSTRAP_NOTIFY__URLS``) or ``urls_file``."""
    urls_file: str = ""
    """A file with one Apprise URL per line (``#`` comments)."""
    retry_min_s: float = 1.0
    retry_max_s: float = 30.0


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
class NatsConfig:
    """The clinic deployment (``calmstrap collect / worker / archive``); unused by ``run`` and ``demo``."""

    servers: str = ""
    """Comma-separated ``nats://host:port`` or ``tls://host:port`` URLs of the cluster's nodes."""
    user: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    creds_file: str = ""
    """A NATS credentials file (JWT + nkey seed), instead of user and password."""
    inbox_prefix: str = ""
    """Edge collectors: the inbox prefix their credentials may subscribe to (empty: ``_INBOX``)."""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    partitions: int = 16
    """Must equal the ``partition(N, 1)`` mapping of the servers' account."""
    replicas: int = 3
    checkpoint_every_s: float = 2.0
    lease_ttl_s: float = 6.0
    """Workers' partition leases (renewed every quarter of it); the bucket's TTL, set when it is created.
    6 s, not 15: failover after a worker kill 9.4 s instead of 18.6 s (BENCHMARKS.md, "Clinic cluster")."""
    strap_lease_ttl_s: float = 10.0
    """Collectors' strap leases (one collector records a strap at a time); the bucket's TTL, set by the
    first worker or archiver: use the same value everywhere."""
    outbox_dir: str = ""
    """Collectors: where the outbox lives (empty: the data dir)."""


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
    nats: NatsConfig = field(default_factory=NatsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)

    def tz(self) -> tzinfo:
        """The person's time zone: ``general.timezone`` (checked at load), else the system's."""
        return zone(self.general.timezone) if self.general.timezone else system_zone()

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
    "policy.control_probability": Range(0.0, 1.0),  # 0: no prompt is held back as a control
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


def zone(name: str) -> ZoneInfo:
    """An IANA time zone by name; raises ValueError for a name the system's tz database does not know."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(name) from None


def system_zone() -> tzinfo:
    """The machine's time zone: ``TZ`` when it names a zone, else ``/etc/localtime``, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return zone(name)
        except ValueError:
            pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return UTC


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
        if typ == tuple[str, ...]:
            return _string_list(key, value)
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
    shown = "(hidden)" if key in _SECRET_KEYS else value
    raise ConfigError(key, shown, _expected(key, typ), source)


_SECRET_KEYS = frozenset({"notify.urls", "web.token", "mqtt.password", "influx.token", "influx.password"})
"""Keys whose value an error message never shows (Apprise URLs carry tokens and passwords)."""

_LIST_CHOICES: Mapping[str, tuple[str, ...]] = {
    "policy.disabled_kinds": (
        "breathing",
        "sigh",
        "exhale",
        "orienting",
        "grounding",
        "urge_surfing",
        "recovery",
    ),
}


def _string_list(key: str, value: object) -> tuple[str, ...]:
    """A TOML array of strings, or (environment) one string of items separated by spaces or commas."""
    if isinstance(value, str):
        items = [v for v in re.split(r"[\s,]+", value) if v]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value if v.strip()]
    else:
        raise ValueError
    choices = _LIST_CHOICES.get(key)
    if choices is not None:
        items = [v.lower() for v in items]
        if any(v not in choices for v in items):
            raise ValueError
    return tuple(items)


def _in_range(key: str, x: float) -> bool:
    rng = RANGES.get(key)
    if rng is not None:
        return x in rng
    return not (_POSITIVE.search(key) and x < 0)


def _expected(key: str, typ: Any) -> str:
    if key in _LIST_CHOICES:
        return "a list of: " + ", ".join(_LIST_CHOICES[key])
    if typ == tuple[str, ...]:
        return "a list of strings (in the environment: separated by spaces or commas)"
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
    "nats": NatsConfig,
    "web": WebConfig,
    "notify": NotifyConfig,
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
    straps: list[StrapConfig] = []
    for i, s in enumerate(straps_raw):
        if not isinstance(s, dict):
            raise ConfigError(f"straps[{i}]", s, "a table with user and address or name", source_file)
        strap = _section(StrapConfig, f"straps[{i}]", {k: (v, source_file) for k, v in s.items()})
        if not strap.address and not strap.name:
            raise ConfigError(f"straps[{i}]", s, "an address or a name", source_file)
        for j, other in enumerate(straps):
            if other.user == strap.user:
                raise ConfigError(
                    f"straps[{i}].user",
                    strap.user,
                    f"a user other than straps[{j}]'s (one person per strap)",
                    source_file,
                )
        straps.append(strap)
    general: GeneralConfig = sections["general"]
    if general.timezone:
        try:
            zone(general.timezone)
        except ValueError:
            raise ConfigError(
                "general.timezone",
                general.timezone,
                "an IANA time zone name such as Europe/Berlin or America/New_York (or empty: the system's)",
                _src(values, "general", "timezone"),
            ) from None
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
    nats: NatsConfig = sections["nats"]
    for url in filter(None, (u.strip() for u in nats.servers.split(","))):
        if not re.match(r"^(nats|tls)://[^/\s]+:\d+/?$", url):
            raise ConfigError(
                "nats.servers",
                nats.servers,
                "comma-separated nats://host:port or tls://host:port URLs",
                _src(values, "nats", "servers"),
            )
    if not 1 <= nats.partitions <= 4096:
        raise ConfigError(
            "nats.partitions", nats.partitions, "a whole number 1-4096", _src(values, "nats", "partitions")
        )
    for key in ("lease_ttl_s", "strap_lease_ttl_s"):  # renewals every quarter; the server's clock is coarse
        if not 1.0 <= getattr(nats, key) <= 3600.0:
            raise ConfigError(f"nats.{key}", getattr(nats, key), "seconds, 1-3600", _src(values, "nats", key))
    if not nats.password and nats.password_file:
        nats = dataclasses.replace(nats, password=_read_secret_file("nats.password_file", nats.password_file))
    web: WebConfig = sections["web"]
    if not web.token and web.token_file:
        web = dataclasses.replace(web, token=_read_secret_file("web.token_file", web.token_file))
    notify: NotifyConfig = sections["notify"]
    if not notify.urls and notify.urls_file:
        lines = _read_secret_file("notify.urls_file", notify.urls_file).splitlines()
        urls = tuple(u.strip() for u in lines if u.strip() and not u.strip().startswith("#"))
        notify = dataclasses.replace(notify, urls=urls)
    return Config(
        nats=nats,
        general=sections["general"],
        processing=sections["processing"],
        policy=sections["policy"],
        mqtt=mqtt,
        influx=influx,
        straps=tuple(straps),
        web=web,
        notify=notify,
    )


def _src(values: Mapping[str, Mapping[str, tuple[object, str]]], section: str, key: str) -> str:
    entry = values.get(section, {}).get(key)
    return entry[1] if entry else "defaults"
