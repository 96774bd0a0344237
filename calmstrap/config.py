"""Configuration: defaults < ``calmstrap.toml`` (or ``--config FILE``) < environment variables.

Environment variables are named ``CALMSTRAP_<SECTION>__<KEY>`` (for example
``CALMSTRAP_POLICY__COOLDOWN_MIN=20``). Every value is checked; a bad one raises :class:`ConfigError`
naming the key, where it came from and what it expects. Secrets (passwords, tokens) come from the
environment or from files and are never part of a repr.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "CALMSTRAP_"
DEFAULT_CONFIG_NAME = "calmstrap.toml"


class ConfigError(ValueError):
    """A configuration value that cannot be used: ``key`` is ``section.key``."""

    def __init__(self, key: str, value: object, expected: str, source: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        self.source = source
        super().__init__(f"config error: {key} = {value!r} (from {source}): expected {expected}")


@dataclass(frozen=True)
class TimeRange:
    """A daily time range ``HH:MM-HH:MM`` that may wrap midnight; equal ends mean "never"."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not m:
            raise ValueError(text)
        h1, m1, h2, m2 = (int(g) for g in m.groups())
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
        if override:
            return Path(override).expanduser()
        if self.general.data_dir:
            return Path(self.general.data_dir).expanduser()
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(xdg) / "calmstrap"


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
            if _POSITIVE.search(key) and out_i < 0:
                raise ValueError
            return out_i
        if typ is float:
            if isinstance(value, bool):
                raise ValueError
            out_f = float(value) if isinstance(value, int | float) else float(str(value).strip())
            if out_f != out_f or out_f in (float("inf"), float("-inf")):
                raise ValueError
            if _POSITIVE.search(key) and out_f < 0:
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
    if typ is int:
        return ("a whole number >= 0" if _POSITIVE.search(key) else "a whole number") + unit
    if typ is float:
        return ("a number >= 0" if _POSITIVE.search(key) else "a number") + unit
    return "a string"


def _section(cls: type[Any], name: str, values: Mapping[str, tuple[object, str]]) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, object] = {}
    known = {f.name for f in dataclasses.fields(cls)}
    for key, (value, source) in values.items():
        if f"{name}.{key}" in _REPLACED:
            raise ConfigError(f"{name}.{key}", value, _REPLACED[f"{name}.{key}"], source)
        if key not in known:
            raise ConfigError(f"{name}.{key}", value, "a known key: " + ", ".join(sorted(known)), source)
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
            raise ConfigError(f"{section}.{key}", v, "a section: " + ", ".join(_SECTIONS), var)
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
    mqtt: MqttConfig = sections["mqtt"]
    if mqtt.url and not re.match(r"^mqtts?://[^/\s]+(:\d+)?/?$", mqtt.url):
        raise ConfigError(
            "mqtt.url", mqtt.url, "mqtt://host[:port] or mqtts://host[:port]", _src(values, "mqtt", "url")
        )
    if not mqtt.password and mqtt.password_file:
        mqtt = dataclasses.replace(mqtt, password=_read_secret_file("mqtt.password_file", mqtt.password_file))
    influx: InfluxConfig = sections["influx"]
    if influx.url and not re.match(r"^https?://[^/\s]+", influx.url):
        raise ConfigError(
            "influx.url", influx.url, "http://host:port or https://host:port", _src(values, "influx", "url")
        )
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
