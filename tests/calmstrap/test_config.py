"""Configuration: defaults < file < environment; bad values name the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calmstrap.config import (
    ConfigError,
    GeneralConfig,
    InfluxConfig,
    MqttConfig,
    PolicyConfig,
    ProcessingConfig,
    TimeRange,
    load_config,
)


def test_defaults_without_file_or_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no file and no environment the defaults apply."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.policy.cooldown_min == 15.0
    assert str(cfg.policy.quiet_hours) == "22:00-07:00"
    assert cfg.mqtt.url == ""


def test_env_overrides_file(tmp_path: Path) -> None:
    """An environment variable wins over the TOML file."""
    f = tmp_path / "c.toml"
    f.write_text('[policy]\ncooldown_min = 30\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n')
    cfg = load_config(f, env={"CALMSTRAP_POLICY__COOLDOWN_MIN": "5"})
    assert cfg.policy.cooldown_min == 5.0
    assert cfg.mqtt.url == "mqtt://127.0.0.1:1883"


def test_bad_file_value_names_key_and_file(tmp_path: Path) -> None:
    """A wrong type in the file names the key, the file and the expectation."""
    f = tmp_path / "c.toml"
    f.write_text('[policy]\nmax_per_hour = "lots"\n')
    with pytest.raises(ConfigError) as e:
        load_config(f, env={})
    assert e.value.key == "policy.max_per_hour"
    assert str(f) in str(e.value)
    assert "whole number" in str(e.value)


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    """A misspelt key is reported with the known keys."""
    with pytest.raises(ConfigError, match="cooldown_min"):
        load_config(None, env={"CALMSTRAP_POLICY__COOLDOWN": "3"})


def test_choice_value(tmp_path: Path) -> None:
    """influx.api accepts v1 or v2 only."""
    assert load_config(None, env={"CALMSTRAP_INFLUX__API": "V1"}).influx.api == "v1"
    with pytest.raises(ConfigError, match="one of v1, v2"):
        load_config(None, env={"CALMSTRAP_INFLUX__API": "v9"})


def test_quiet_hours_parse_and_error() -> None:
    """Quiet hours parse as HH:MM-HH:MM; anything else is an error naming the format."""
    assert TimeRange.parse("23:30-6:00").end.hour == 6
    with pytest.raises(ConfigError, match="HH:MM-HH:MM"):
        load_config(None, env={"CALMSTRAP_POLICY__QUIET_HOURS": "late"})


def test_secret_from_file_is_not_in_repr(tmp_path: Path) -> None:
    """A password read from a file is used but never shown in the config's repr."""
    pw = tmp_path / "pw"
    pw.write_text("s3cret-value\n")
    cfg = load_config(None, env={"CALMSTRAP_MQTT__PASSWORD_FILE": str(pw)})
    assert cfg.mqtt.password == "s3cret-value"
    assert "s3cret-value" not in repr(cfg)


def test_straps_need_address_or_name(tmp_path: Path) -> None:
    """A [[straps]] entry without address or name is rejected."""
    f = tmp_path / "c.toml"
    f.write_text('[[straps]]\nuser = "ana"\n')
    with pytest.raises(ConfigError, match=r"straps\[0\]"):
        load_config(f, env={})


def test_old_baseline_key_names_its_replacement(tmp_path: Path) -> None:
    """processing.baseline_min_windows changed meaning: it is refused, naming baseline_min_minutes."""
    f = tmp_path / "c.toml"
    f.write_text("[processing]\nbaseline_min_windows = 48\n")
    with pytest.raises(ConfigError) as e:
        load_config(f, env={})
    assert e.value.key == "processing.baseline_min_windows" and "baseline_min_minutes" in str(e.value)
    assert (
        load_config(
            None, env={"CALMSTRAP_PROCESSING__BASELINE_MIN_MINUTES": "45"}
        ).processing.baseline_min_minutes
        == 45.0
    )


def test_motion_is_on_by_default_for_straps(tmp_path: Path) -> None:
    """A [[straps]] entry streams the accelerometer unless it says motion = false."""
    f = tmp_path / "c.toml"
    f.write_text(
        '[[straps]]\nuser = "ana"\nname = "H10"\n[[straps]]\nuser = "ben"\nname = "TICKR"\nmotion = false\n'
    )
    assert [s.motion for s in load_config(f, env={}).straps] == [True, False]


def test_timezone_is_an_iana_name() -> None:
    """general.timezone takes an IANA name; a wrong one names the key and what it expects."""
    cfg = load_config(None, env={"CALMSTRAP_GENERAL__TIMEZONE": "America/New_York"})
    assert str(cfg.tz()) == "America/New_York"
    with pytest.raises(ConfigError) as e:
        load_config(None, env={"CALMSTRAP_GENERAL__TIMEZONE": "Mars/Olympus"})
    assert e.value.key == "general.timezone" and "IANA time zone" in str(e.value)


def test_bad_timezone_exits_2_naming_the_key(tmp_path: Path) -> None:
    """A command with a bad timezone stops with exit status 2 and names general.timezone."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMSTRAP_")}
    env["CALMSTRAP_GENERAL__TIMEZONE"] = "New York"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-m", "calmstrap", "export", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "general.timezone" in proc.stderr


# -- config that cannot lie ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "value", "key", "words"),
    [
        ("CALMSTRAP_INFLUX__URL", "http://127.0.0.1:abc", "influx.url", "port"),
        ("CALMSTRAP_INFLUX__URL", "http://127.0.0.1:0", "influx.url", "port"),
        ("CALMSTRAP_INFLUX__URL", "http://127.0.0.1:70000", "influx.url", "port"),
        ("CALMSTRAP_INFLUX__URL", "ftp://127.0.0.1:8086", "influx.url", "http://host"),
        ("CALMSTRAP_INFLUX__URL", "http://:8086", "influx.url", "host"),
        ("CALMSTRAP_INFLUX__URL", "http://127.0.0.1:8086?db=x", "influx.url", "http://host"),
        ("CALMSTRAP_MQTT__URL", "mqtt://127.0.0.1:1883/x", "mqtt.url", "mqtt://host"),
        ("CALMSTRAP_MQTT__URL", "mqtt://127.0.0.1:port", "mqtt.url", "port"),
        ("CALMSTRAP_MQTT__URL", "mqtt://127.0.0.1 :1883", "mqtt.url", "mqtt://host"),
        ("CALMSTRAP_POLICY__QUIET_HOURS", "99:00-07:00", "policy.quiet_hours", "HH:MM-HH:MM"),
        ("CALMSTRAP_POLICY__QUIET_HOURS", "22:60-07:00", "policy.quiet_hours", "HH:MM-HH:MM"),
        ("CALMSTRAP_PROCESSING__ELEVATED_A", "-0.5", "processing.elevated_a", "above 0"),
        ("CALMSTRAP_PROCESSING__HIGH_A", "-1", "processing.high_a", "above 0"),
        ("CALMSTRAP_PROCESSING__HIGH_A", "0.4", "processing.high_a", "above processing.elevated_a (0.5)"),
        ("CALMSTRAP_PROCESSING__MAX_ARTIFACT_PCT", "150", "processing.max_artifact_pct", "from 0 to 100"),
        ("CALMSTRAP_PROCESSING__FAST_STEP_S", "0", "processing.fast_step_s", "above 0"),
        ("CALMSTRAP_PROCESSING__SLOW_WINDOW_S", "30", "processing.slow_window_s", "processing.fast_window_s"),
        ("CALMSTRAP_POLICY__EXPIRY_S", "0", "policy.expiry_s", "from 1 to 3600"),
        ("CALMSTRAP_MQTT__RECONNECT_MAX_S", "0.5", "mqtt.reconnect_max_s", "mqtt.reconnect_min_s"),
        ("CALMSTRAP_INFLUX__BATCH_SIZE", "0", "influx.batch_size", "whole number from 1"),
        ("CALMSTRAP_NATS__LEASE_TTL_S", "0", "nats.lease_ttl_s", "seconds, 1-3600"),
        ("CALMSTRAP_NATS__STRAP_LEASE_TTL_S", "0.5", "nats.strap_lease_ttl_s", "seconds, 1-3600"),
    ],
)
def test_a_bad_value_names_the_key_and_what_it_expects(var: str, value: str, key: str, words: str) -> None:
    """Bad URLs, ports, times and thresholds: a ConfigError naming the key, its source and the expectation."""
    with pytest.raises(ConfigError) as info:
        load_config(None, env={var: value})
    assert info.value.key == key
    assert key in str(info.value) and var in str(info.value) and words in str(info.value)


@pytest.mark.parametrize(
    ("var", "value", "attr", "expected"),
    [
        ("CALMSTRAP_POLICY__QUIET_HOURS", "22:00-24:00", "policy.quiet_hours", "22:00-00:00"),
        (
            "CALMSTRAP_INFLUX__URL",
            "https://influx.example/proxy/",
            "influx.url",
            "https://influx.example/proxy/",
        ),
        ("CALMSTRAP_MQTT__URL", "mqtts://[::1]:8883", "mqtt.url", "mqtts://[::1]:8883"),
        ("CALMSTRAP_PROCESSING__HIGH_A", "2.5", "processing.high_a", "2.5"),
    ],
)
def test_good_values_at_the_edges_are_accepted(var: str, value: str, attr: str, expected: str) -> None:
    """24:00 as an end, a path behind a proxy, an IPv6 broker, a higher threshold: all fine."""
    section, key = attr.split(".")
    assert str(getattr(getattr(load_config(None, env={var: value}), section), key)) == expected


def test_parse_url_gives_scheme_host_and_default_port() -> None:
    """The helper other settings use: the default port of the scheme when none is given."""
    from calmstrap.config import Url, parse_url

    assert parse_url("nats.url", "nats://10.0.0.2", {"nats": 4222}) == Url("nats", "10.0.0.2", 4222)
    assert parse_url("x.url", "HTTP://h:81/p/", {"http": 80}, allow_path=True) == Url("http", "h", 81, "/p")


@pytest.mark.parametrize(
    ("var", "url"),
    [
        ("CALMSTRAP_MQTT__URL", "mqtt://u:SECRETPW@host"),
        ("CALMSTRAP_MQTT__URL", "mqtt://u:SEC/RETPW@host:1883"),
        ("CALMSTRAP_INFLUX__URL", "http://admin:SECRETPW@127.0.0.1:8086"),
    ],
)
def test_credentials_in_a_url_are_refused_without_showing_the_password(var: str, url: str) -> None:
    """user:password@ in a URL: refused, pointing at the keys that hold credentials; the password never shown."""
    with pytest.raises(ConfigError) as info:
        load_config(None, env={var: url})
    text = f"{info.value} {info.value!r}"
    assert "SECRETPW" not in text and "RETPW" not in text
    assert "***" in text and "without credentials" in text
    assert "password_file" in text


def test_secret_values_are_never_shown_in_errors(tmp_path: Path) -> None:
    """A bad value of a secret key, or a misspelt key, is reported without its value."""
    f = tmp_path / "c.toml"
    f.write_text("[influx]\ntoken = 987654321\n")
    with pytest.raises(ConfigError) as info:
        load_config(f, env={})
    assert info.value.key == "influx.token"
    assert "987654321" not in str(info.value) and "'***'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"CALMSTRAP_MQTT__PASWORD": "SECRETPW"})
    assert info.value.key == "mqtt.pasword" and "SECRETPW" not in str(info.value)


def test_passwords_and_tokens_from_the_environment_are_not_in_any_repr() -> None:
    """Secrets set in the environment are used but never part of the config's repr."""
    cfg = load_config(
        None,
        env={
            "CALMSTRAP_MQTT__URL": "mqtt://127.0.0.1:1883",
            "CALMSTRAP_MQTT__USERNAME": "me",
            "CALMSTRAP_MQTT__PASSWORD": "SECRETPW",
            "CALMSTRAP_INFLUX__TOKEN": "SECRETTOKEN",
        },
    )
    assert cfg.mqtt.password == "SECRETPW" and cfg.influx.token == "SECRETTOKEN"
    assert "SECRETPW" not in repr(cfg) and "SECRETTOKEN" not in repr(cfg)


def test_a_too_open_data_dir_is_made_private_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An existing 0755 data dir becomes 0700, and the person is told."""
    import logging
    import stat

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    cfg = load_config(None, env={})
    with caplog.at_level(logging.WARNING, logger="calmstrap.config"):
        assert cfg.data_dir(str(data)) == data
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert any("0700" in r.getMessage() and "755" in r.getMessage() for r in caplog.records)


def test_a_private_data_dir_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A 0700 data dir: no change, no warning."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    load_config(None, env={}).data_dir(str(data))
    assert not caplog.records


def test_control_probability_defaults_to_a_quarter_and_must_be_between_0_and_1() -> None:
    """[policy] control_probability: 0.25 by default, 0 allowed (off); 1.5 names the key and the range."""
    assert load_config(env={}).policy.control_probability == 0.25
    assert load_config(env={"CALMSTRAP_POLICY__CONTROL_PROBABILITY": "0"}).policy.control_probability == 0.0
    with pytest.raises(ConfigError) as err:
        load_config(env={"CALMSTRAP_POLICY__CONTROL_PROBABILITY": "1.5"})
    assert err.value.key == "policy.control_probability"
    assert "from 0 to 1" in str(err.value) and "CALMSTRAP_POLICY__CONTROL_PROBABILITY" in str(err.value)


_ALL_KEYS = [
    f"CALMSTRAP_{section.upper()}__{f.name.upper()}"
    for section, cls in (
        ("general", GeneralConfig),
        ("processing", ProcessingConfig),
        ("policy", PolicyConfig),
        ("mqtt", MqttConfig),
        ("influx", InfluxConfig),
    )
    for f in dataclasses.fields(cls)
    if not f.name.endswith("_file") and f.name != "data_dir"
]


@given(
    st.dictionaries(
        st.sampled_from(_ALL_KEYS),
        st.text(max_size=30)
        | st.sampled_from(["-1", "0", "1e400", "nan", "25:00-01:00", "mqtt://h:99999", "http://u:p@h"]),
        max_size=4,
    )
)
@settings(max_examples=400, deadline=None)
def test_any_environment_gives_a_config_or_a_config_error(env: dict[str, str]) -> None:
    """Whatever the values, loading ends in a Config or a ConfigError, and no secret is ever in the message."""
    try:
        load_config(None, env=env)
    except ConfigError as exc:
        var = "CALMSTRAP_" + exc.key.replace(".", "__").upper()
        if var.endswith(("PASSWORD", "TOKEN")) and env.get(var):
            assert "'***'" in str(exc) and repr(env[var]) not in str(exc)


def test_two_straps_for_one_user_are_refused(tmp_path: Path) -> None:
    """Each [[straps]] entry is one person: a user named twice is an error naming the second entry."""
    f = tmp_path / "c.toml"
    f.write_text('[[straps]]\nuser = "ana"\nname = "H10"\n[[straps]]\nuser = "ana"\nname = "TICKR"\n')
    with pytest.raises(ConfigError, match=r"straps\[0\]'s") as info:
        load_config(f, env={})
    assert info.value.key == "straps[1].user"
