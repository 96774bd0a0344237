"""Configuration: defaults < file < environment; bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from calmstrap.config import ConfigError, TimeRange, load_config


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
    f.write_text('[[straps]]\nname = "H10"\n[[straps]]\nname = "TICKR"\nmotion = false\n')
    assert [s.motion for s in load_config(f, env={}).straps] == [True, False]
